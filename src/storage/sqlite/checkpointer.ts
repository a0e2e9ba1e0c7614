// Checkpoints off the event loop. By default SQLite copies the WAL back into the database inside
// the COMMIT that takes it past 1,000 pages, on the connection that committed: up to 4 MB written
// and two fsyncs (synchronous=NORMAL syncs at a checkpoint), 5-9 ms for the fsync alone on the
// bench machine, with the server's event loop held all the while (better-sqlite3 is synchronous).
// A burst of turns met several. The server's connection leaves them to a worker thread with its
// own connection (WORKER below), and does none itself once that thread is ready. If the thread
// cannot start, fails or dies, the connection checkpoints as before (wal_autocheckpoint back to
// SQLite's default): the WAL never grows without bound.
import { Worker } from 'node:worker_threads';
import type SqliteDatabase from 'better-sqlite3';

/** How often the worker copies what the WAL holds back into the database. */
export const CHECKPOINT_EVERY_MS = 1000;
/** SQLite's own wal_autocheckpoint: a checkpoint in the COMMIT that takes the WAL past this many pages. */
export const INLINE_CHECKPOINT_PAGES = 1000;
/** How long closing waits for the worker to close its connection before it is ended. */
const STOP_WAIT_MS = 2000;

/** What the worker says: ready once its connection is open, or that a checkpoint failed. */
type CheckpointMessage = { ready: true } | { failed: string };

/**
 * The worker thread, plain JavaScript (it runs the same from the sources under ts-jest and from
 * dist/, with nothing to compile): every `everyMs` it copies the WAL back into the database on a
 * connection of its own. PASSIVE: it never waits for a writer or a reader, nor makes them wait;
 * what it cannot copy now is copied next time; another process's checkpoint running (SQLITE_BUSY)
 * is left to finish. Told 'stop', it closes its connection and ends.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const db = new Database(workerData.file, { timeout: 0 });
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const timer = setInterval(() => {
  try {
    checkpoint.all();
  } catch (err) {
    if (err.code !== 'SQLITE_BUSY') parentPort.postMessage({ failed: String(err.message) });
  }
}, workerData.everyMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
parentPort.postMessage({ ready: true });
`;

export class Checkpointer {
  private worker?: Worker;
  /** The worker checkpoints, and this connection does not. */
  private offLoop = false;
  private stopping = false;
  /** The worker failed or ended: checkpoints are inline again for good. */
  private gone = false;

  constructor(
    private readonly raw: SqliteDatabase.Database,
    file: string,
    private readonly onFailure: (reason: string) => void,
    everyMs = CHECKPOINT_EVERY_MS,
  ) {
    const worker = new Worker(WORKER, { eval: true, workerData: { file, everyMs, sqlite: require.resolve('better-sqlite3') } });
    worker.unref(); // it never keeps the process alive
    this.worker = worker;
    worker.on('message', (message: CheckpointMessage) => {
      if ('ready' in message) {
        if (this.stopping || this.gone) return;
        this.raw.pragma('wal_autocheckpoint = 0');
        this.offLoop = true;
      } else if ('failed' in message) {
        this.inline(`a checkpoint failed: ${message.failed}`);
        worker.postMessage('stop');
      }
    });
    worker.once('error', (err) => this.inline(`the checkpoint thread failed: ${err.message}`));
    worker.once('exit', () => this.inline('the checkpoint thread ended'));
  }

  /** Whether checkpoints are the worker's (this connection does none). */
  get offEventLoop(): boolean {
    return this.offLoop;
  }

  /** The worker's thread, for tests. */
  get thread(): Worker | undefined {
    return this.worker;
  }

  /** Back to checkpoints in this connection's commits, saying why (once; not when closing). */
  private inline(reason: string): void {
    if (this.stopping || this.gone) return;
    this.gone = true;
    this.worker = undefined;
    if (this.offLoop && this.raw.open) this.raw.pragma(`wal_autocheckpoint = ${INLINE_CHECKPOINT_PAGES}`);
    this.offLoop = false;
    this.onFailure(reason);
  }

  /** The worker closes its connection and ends (before the store closes its own, the last, which checkpoints). */
  async stop(): Promise<void> {
    this.stopping = true;
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    const ended = new Promise((resolve) => worker.once('exit', resolve));
    worker.ref(); // awaited now: the process stays until it has ended (unref'd, it would exit here, mid-shutdown)
    worker.postMessage('stop');
    const late = setTimeout(() => void worker.terminate(), STOP_WAIT_MS).unref();
    await ended;
    clearTimeout(late);
  }
}
