// For a worker thread doing long work (counting a long text, extracting a document's text).
import fs from 'node:fs';
import os from 'node:os';

/**
 * The event loop comes first: when the cores are busy, the calling thread gets about a tenth of
 * what the event loop gets (nice 10), so one user's long text slows everyone's requests the less,
 * and is still done. Linux gives each thread a nice value of its own (/proc/thread-self names
 * this one); elsewhere it keeps the process's.
 */
export function giveWay(): void {
  try {
    os.setPriority(Number(fs.readlinkSync('/proc/thread-self').split('/').pop()), os.constants.priority.PRIORITY_BELOW_NORMAL);
  } catch {
    // not Linux: the work still leaves the event loop, only not its core
  }
}
