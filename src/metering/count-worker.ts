// A worker thread of count-pool.ts: counts the texts it is sent, one at a time, exactly as
// countTextSync does on the main thread (the same code, so the same counts).
import fs from 'node:fs';
import os from 'node:os';
import { parentPort } from 'node:worker_threads';
import type { WorkerMessage } from './count-pool';
import { countTextSync, loadEncodings, type EncodingName } from './tokens-text';

/**
 * The event loop comes first: when the cores are busy, this thread gets about a tenth of what the
 * event loop gets (nice 10), so one user's long text slows everyone's requests the less, and is
 * still counted. Linux gives each thread a nice value of its own (/proc/thread-self names this
 * one); elsewhere it keeps the process's.
 */
function giveWay(): void {
  try {
    os.setPriority(Number(fs.readlinkSync('/proc/thread-self').split('/').pop()), os.constants.priority.PRIORITY_BELOW_NORMAL);
  } catch {
    // not Linux: the counts still leave the event loop, only not its core
  }
}

const port = parentPort!;
giveWay();
loadEncodings(); // ~100 ms each, paid once by this thread rather than by its first count
port.postMessage({ ready: true } satisfies WorkerMessage);
port.on('message', ({ text, encoding }: { text: string; encoding: EncodingName }) => {
  port.postMessage({ tokens: countTextSync(text, encoding) } satisfies WorkerMessage);
});
