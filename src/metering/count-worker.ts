// A worker thread of count-pool.ts: counts the texts it is sent, one at a time, exactly as
// countTextSync does on the main thread (the same code, so the same counts).
import { parentPort } from 'node:worker_threads';
import { giveWay } from './give-way';
import type { WorkerMessage } from './count-pool';
import { countTextSync, loadEncodings, type EncodingName } from './tokens-text';

const port = parentPort!;
giveWay();
loadEncodings(); // ~100 ms each, paid once by this thread rather than by its first count
port.postMessage({ ready: true } satisfies WorkerMessage);
port.on('message', ({ text, encoding }: { text: string; encoding: EncodingName }) => {
  port.postMessage({ tokens: countTextSync(text, encoding) } satisfies WorkerMessage);
});
