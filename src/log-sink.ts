// Where the server's log lines wait on their way to stdout. pino hands each line here; the lines
// waiting go out together, once per turn of the event loop, one write in flight at a time, through
// process.stdout, which on a pipe never blocks the process (libuv makes the pipe non-blocking and
// waits for it to take more). A log reader that stops reading must cost neither unbounded memory
// nor a process that cannot exit: past `limit` characters waiting, the oldest lines are dropped and
// counted; at exit nothing waits for a full pipe (a write blocked in the thread pool, as
// sonic-boom's async fs.write is on a blocking pipe, holds exit() for ever).
import fs from 'node:fs';
import type { Writable } from 'node:stream';

/** The most written at once: the in-flight write is bounded as the waiting lines are. */
const BATCH_CHARS = 64 * 1024;

export class LogSink {
  private lines: (string | undefined)[] = [];
  private head = 0; // the oldest line waiting; lines before it are gone (dropped or written)
  private waiting = 0; // characters waiting, not counting the write in flight
  private inFlight = 0; // lines in the write in flight
  private scheduled = false;
  private unreported = 0;
  private flushed: (() => void)[] = [];
  private held: NodeJS.Timeout | undefined;
  /** Lines dropped since start: pushed out by newer ones, or lost with a failed write. */
  dropped = 0;

  /**
   * `onDrop` hears of every drop (metrics); `onGap`, once a write goes through again, of how many
   * lines were dropped before it (so the log itself says where lines are missing).
   */
  constructor(
    private readonly out: Writable & { fd?: number },
    private readonly limit: number,
    private readonly hooks: { onDrop?: (lines: number) => void; onGap?: (lines: number) => void } = {},
  ) {
    out.on('error', () => undefined); // EPIPE and the like: each write's callback hears of it too
  }

  /** pino's destination interface: one line, newline included. */
  write(line: string): boolean {
    // pino's line is a tree of concatenated pieces, about three times its length in memory while it
    // waits; reading a character makes V8 flatten it into one string of its length.
    line.charCodeAt(0);
    this.lines.push(line);
    this.waiting += line.length;
    let dropped = 0;
    while (this.waiting > this.limit && this.head < this.lines.length) {
      this.waiting -= this.lines[this.head]!.length;
      this.lines[this.head++] = undefined;
      dropped++;
    }
    if (dropped) this.drop(dropped);
    this.compact();
    this.schedule();
    return true;
  }

  /**
   * Lines wait (bounded as ever) until `lead` or until `ms` pass, whichever comes first: so a
   * terminal's first line can be the address the server listens on, which start-up knows last,
   * while a start-up that takes longer (a database slow to answer) still shows what it is doing.
   */
  holdFor(ms: number): void {
    clearTimeout(this.held);
    this.held = setTimeout(() => this.lead(), ms).unref();
  }

  /** Writes `line` (newline included) ahead of every line waiting, and ends a hold. */
  lead(line?: string): void {
    if (line !== undefined) {
      this.lines.splice(this.head, 0, line);
      this.waiting += line.length;
    }
    clearTimeout(this.held);
    this.held = undefined;
    this.schedule();
  }

  /** Lines not yet written: waiting, and in the write in flight. */
  get pending(): number {
    return this.lines.length - this.head + this.inFlight;
  }

  /** Resolves true once every line is written, false if `ms` pass first (the reader is stuck). */
  flushWithin(ms: number): Promise<boolean> {
    if (this.pending === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.flushed.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /**
   * At exit, with no event loop left (process.exit, a crash): writes what waits, synchronously,
   * unless a write is in flight (its rest would interleave) or the pipe is full (no waiting for
   * it). Answers the lines dropped since start and those left unwritten now.
   */
  writeOutAtExit(): { dropped: number; unwritten: number } {
    if (!this.inFlight && this.out.fd !== undefined && this.head < this.lines.length) {
      let rest = Buffer.from(this.lines.slice(this.head).join(''));
      try {
        while (rest.length) rest = rest.subarray(fs.writeSync(this.out.fd, rest));
        this.lines = [];
        this.head = 0;
        this.waiting = 0;
      } catch {
        // EAGAIN: the reader is not reading; the lines are lost, and counted
      }
    }
    return { dropped: this.dropped, unwritten: this.pending };
  }

  private drop(lines: number): void {
    this.dropped += lines;
    this.unreported += lines;
    this.hooks.onDrop?.(lines);
  }

  /** Forgets the gone lines' slots once they are most of the array (a queue without shift's copying). */
  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.lines.length) {
      this.lines = this.lines.slice(this.head);
      this.head = 0;
    }
  }

  private readonly writeOut = () => {
    this.scheduled = false;
    if (this.inFlight || this.head === this.lines.length) return;
    let batch = '';
    while (this.head < this.lines.length && (batch === '' || batch.length + this.lines[this.head]!.length <= BATCH_CHARS)) {
      batch += this.lines[this.head];
      this.lines[this.head++] = undefined;
      this.inFlight++;
    }
    this.waiting -= batch.length;
    this.compact();
    try {
      this.out.write(batch, this.written);
    } catch (err) {
      this.written(err as Error); // a file stream's writeSync threw (ENOSPC)
    }
  };

  private readonly written = (err?: Error | null) => {
    const lines = this.inFlight;
    this.inFlight = 0;
    if (err) this.drop(lines);
    else if (this.unreported) {
      const gap = this.unreported;
      this.unreported = 0;
      this.hooks.onGap?.(gap);
    }
    if (this.pending === 0) for (const resolve of this.flushed.splice(0)) resolve();
    else this.schedule();
  };

  private schedule(): void {
    if (this.scheduled || this.inFlight || this.held || this.head === this.lines.length) return;
    this.scheduled = true;
    setImmediate(this.writeOut);
  }
}
