// Group commit on the synchronous SQLite handle. Writes that arrive in the same turn of the event
// loop are written in ONE BEGIN IMMEDIATE transaction; their promises settle only after the
// COMMIT, so a caller never shows a balance that is not on disk. A lone caller pays one extra
// event-loop turn; concurrent writes share the cost of the commit, which is most of the cost.
// A write that fails (a refused deduction, a repeated turn key) must be rolled back alone. That is
// rare, so a batch is first written without savepoints (they cost a tenth of a pair); when any
// write in it throws, the whole transaction rolls back and the batch is written again with a
// savepoint around each write. Writes are therefore closures that only touch the database.
// While another connection (another process on the data directory, the command line) holds the
// write lock, a batch waits for it with the event loop free: the connection's own busy timeout is
// short (LOCK_SLICE_MS), and the batch is tried again every LOCK_RETRY_MS, for up to the busy
// timeout; past it, its writes fail with SQLITE_BUSY (a 503 that asks to try again).
import type SqliteDatabase from 'better-sqlite3';
import { writeStarted } from '../write-timer';

type Raw = SqliteDatabase.Database;
type Write = { run: () => unknown; resolve: (value: unknown) => void; reject: (err: unknown) => void };
type Outcome = { ok: true; value: unknown } | { ok: false; err: unknown };

/** The connection's busy timeout: the longest one try for the write lock blocks the event loop. */
export const LOCK_SLICE_MS = 50;
const LOCK_RETRY_MS = 50;

class WriteFailed extends Error {
  constructor(readonly error: unknown) {
    super('a write in the batch failed');
  }
}

export class GroupCommit {
  private queue: Write[] = [];
  private scheduled = false;
  /** When the batch waiting for another connection's write lock first found it taken. */
  private lockedSince: number | undefined;
  // Made once: better-sqlite3 builds a wrapper per transaction() call, which costs as much as a write.
  private readonly runAll: SqliteDatabase.Transaction<(ops: Write[]) => Outcome[]>;
  private readonly runEach: SqliteDatabase.Transaction<(ops: Write[]) => Outcome[]>;

  /** `busyTimeoutMs`: how long a batch waits for another connection's write lock before it fails. */
  constructor(raw: Raw, private readonly busyTimeoutMs: number) {
    const savepoint = raw.prepare('SAVEPOINT store_write');
    const release = raw.prepare('RELEASE store_write');
    const rollback = raw.prepare('ROLLBACK TO store_write');
    this.runAll = raw.transaction((ops: Write[]): Outcome[] =>
      ops.map((op) => {
        try {
          return { ok: true, value: op.run() };
        } catch (err) {
          throw new WriteFailed(err); // rolls the whole batch back
        }
      }),
    );
    this.runEach = raw.transaction((ops: Write[]): Outcome[] =>
      ops.map((op): Outcome => {
        savepoint.run();
        try {
          const value = op.run();
          release.run();
          return { ok: true, value };
        } catch (err) {
          // Some errors (disk full, I/O) end the whole transaction in SQLite: then all have failed.
          if (!raw.inTransaction) throw err;
          rollback.run();
          release.run();
          return { ok: false, err };
        }
      }),
    );
  }

  submit<T>(run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue.splice(0);
    const done = writeStarted(); // one transaction, however many writes share it
    try {
      this.write(batch);
    } finally {
      done();
    }
  }

  private write(batch: Write[]): void {
    let outcomes: Outcome[];
    try {
      outcomes = this.runAll.immediate(batch);
    } catch (err) {
      if (this.waitForLock(err, batch)) return;
      // Nothing was written. A write failed (alone, that is its answer; in a batch, find which one
      // by writing the batch again, one savepoint each), or the transaction itself did.
      try {
        if (!(err instanceof WriteFailed)) throw err;
        if (batch.length === 1) throw err.error;
        outcomes = this.runEach.immediate(batch);
      } catch (failed) {
        for (const op of batch) op.reject(failed);
        return;
      }
    }
    this.lockedSince = undefined;
    batch.forEach((op, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) op.resolve(outcome.value);
      else op.reject(outcome.err);
    });
  }

  /**
   * BEGIN IMMEDIATE (or COMMIT) found the write lock taken: nothing was written. Puts the batch back
   * first in line and tries again shortly, unless it has waited the busy timeout already.
   */
  private waitForLock(err: unknown, batch: Write[]): boolean {
    if (err instanceof WriteFailed || (err as { code?: string }).code !== 'SQLITE_BUSY') return false;
    const now = Date.now();
    this.lockedSince ??= now;
    if (now - this.lockedSince >= this.busyTimeoutMs) {
      this.lockedSince = undefined;
      return false;
    }
    this.queue.unshift(...batch);
    if (!this.scheduled) {
      this.scheduled = true; // writes submitted meanwhile join the batch
      setTimeout(() => this.flush(), LOCK_RETRY_MS);
    }
    return true;
  }
}
