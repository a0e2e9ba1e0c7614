// Whether PostgreSQL answers, as this process last found out, so that requests fail at once while
// it is away instead of each waiting out a connection timeout. Something that looks like an
// outage (a connection reset, refused or timed out, a statement without an answer, /healthz not
// answered in time) runs a probe: a new connection and SELECT 1, bounded. Only a failed probe
// marks the database away; a single connection killed on a healthy server costs one probe. While
// away, the pool refuses every connection with DatabaseUnavailable, the connections still open
// are cut (a stalled network would hold their queries for the statement timeout), and the probe
// runs again every second until it answers.
import { EventEmitter } from 'node:events';
import { DatabaseUnavailable } from '../faults';

/** How long a probe may take: a healthy server opens a connection and answers SELECT 1 in milliseconds. */
export const PROBE_TIMEOUT_MS = 2000;
const RETRY_MS = 1000;

export interface AvailabilityEvents {
  /** The probe failed: refusing from now on. */
  down: [err: unknown];
  /** A probe answered again. */
  up: [];
}

export class Availability extends EventEmitter<AvailabilityEvents> {
  private away: DatabaseUnavailable | undefined;
  private probing = false;
  /** When a probe last answered: suspicions within retryMs of it are let go (under load, slow is not away). */
  private answeredAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  /** `probe` resolves when the database answers, rejects when not (within its own bound). */
  constructor(private readonly probe: () => Promise<void>, private readonly retryMs = RETRY_MS) {
    super();
  }

  /** The error to refuse with while the database is away; undefined while it answers. */
  get refusal(): DatabaseUnavailable | undefined {
    return this.away;
  }

  /** Something failed as it would with the database away: find out, one probe at a time. */
  suspect(): void {
    // While away, the timer probes already.
    if (this.closed || this.probing || this.away || Date.now() - this.answeredAt < this.retryMs) return;
    void this.check();
  }

  private async check(): Promise<void> {
    this.probing = true;
    try {
      await this.probe();
      this.answeredAt = Date.now();
      if (this.away) {
        this.away = undefined;
        this.emit('up');
      }
    } catch (err) {
      if (!this.away) {
        this.away = new DatabaseUnavailable(`the database is unavailable (${(err as Error)?.message ?? err}); retrying every second`, { cause: err });
        this.emit('down', err);
      }
      if (!this.closed) this.timer = setTimeout(() => void this.check(), this.retryMs).unref();
    } finally {
      this.probing = false;
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}
