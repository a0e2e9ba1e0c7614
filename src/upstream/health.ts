// A provider's health as this process sees it: a circuit breaker (after `failures` failures in a
// row it is skipped for `cooldownMs`, then one call tries it again; a success closes it) and its
// requests, errors and time to first output over the last hour, in one-minute buckets.
import type { UpstreamError } from './errors';

export interface BreakerSettings {
  /** Failures in a row that open the breaker. */
  failures: number;
  /** How long an open breaker skips the provider before one call tries it again. */
  cooldownMs: number;
}

export const DEFAULT_BREAKER: BreakerSettings = { failures: 3, cooldownMs: 30_000 };

const MINUTE = 60_000;
const HOUR_BUCKETS = 60;

interface Bucket {
  minute: number;
  requests: number;
  errors: number;
  latencyMs: number;
  timed: number;
}

export interface HealthView {
  state: 'healthy' | 'cooling';
  /** When a cooling provider is tried again. */
  retryAt: number | null;
  failuresInARow: number;
  lastError: { kind: string; status: number | null; at: number } | null;
  lastHour: { requests: number; errors: number; meanFirstOutputMs: number | null };
}

export class ProviderHealth {
  private failuresInARow = 0;
  private openUntil = 0;
  private lastError: HealthView['lastError'] = null;
  private readonly buckets: Bucket[] = [];

  constructor(
    private readonly settings: BreakerSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Whether a call may go to the provider now. An open breaker whose cool-down is over lets one
   * call through and stays open for another cool-down meanwhile: one trial, not a stampede.
   */
  admits(): boolean {
    if (this.failuresInARow < this.settings.failures) return true;
    const now = this.now();
    if (now < this.openUntil) return false;
    this.openUntil = now + this.settings.cooldownMs;
    return true;
  }

  /** A call was sent to it. */
  started(): void {
    this.bucket().requests++;
  }

  /** Its first output (or its whole answer, when it had none) came after `ms`. */
  answered(ms: number): void {
    const b = this.bucket();
    b.latencyMs += ms;
    b.timed++;
  }

  succeeded(): void {
    this.failuresInARow = 0;
    this.openUntil = 0;
  }

  /** A failure of the provider's (not the caller's: a refused request or an abort is not one). */
  failed(err: UpstreamError): void {
    this.bucket().errors++;
    this.lastError = { kind: err.kind, status: err.status ?? null, at: this.now() };
    this.failuresInARow++;
    if (this.failuresInARow >= this.settings.failures) this.openUntil = this.now() + this.settings.cooldownMs;
  }

  view(): HealthView {
    const now = this.now();
    const cooling = this.failuresInARow >= this.settings.failures && now < this.openUntil;
    const recent = this.buckets.filter((b) => b.minute > Math.floor(now / MINUTE) - HOUR_BUCKETS);
    const sum = (k: 'requests' | 'errors' | 'latencyMs' | 'timed') => recent.reduce((n, b) => n + b[k], 0);
    const timed = sum('timed');
    return {
      state: cooling ? 'cooling' : 'healthy',
      retryAt: cooling ? this.openUntil : null,
      failuresInARow: this.failuresInARow,
      lastError: this.lastError,
      lastHour: { requests: sum('requests'), errors: sum('errors'), meanFirstOutputMs: timed ? Math.round(sum('latencyMs') / timed) : null },
    };
  }

  private bucket(): Bucket {
    const minute = Math.floor(this.now() / MINUTE);
    let last = this.buckets[this.buckets.length - 1];
    if (last?.minute !== minute) {
      last = { minute, requests: 0, errors: 0, latencyMs: 0, timed: 0 };
      this.buckets.push(last);
      while (this.buckets.length > HOUR_BUCKETS) this.buckets.shift();
    }
    return last;
  }
}
