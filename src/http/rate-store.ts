// An express-rate-limit store kept in the app database, so the throttles count across every
// server process on it (PostgreSQL: across hosts; SQLite: processes sharing DATA_DIR). Each
// limiter gets its own prefix; counters of ended windows are pruned by the server's sweep.
import type { ClientRateLimitInfo, Options, Store as RateStore } from 'express-rate-limit';
import { query, type Op, type Store } from '../storage/op';

function* hit(key: string, now: string, resetAt: string): Op<{ hits: number; resetAt: string }> {
  return yield* query('limits.hit', { key, now, resetAt });
}
function* current(key: string, now: string): Op<{ hits: number; resetAt: string } | undefined> {
  return yield* query('limits.get', { key, now });
}
function* unhit(key: string): Op<void> {
  yield* query('limits.unhit', { key });
}
function* reset(key: string): Op<void> {
  yield* query('limits.reset', { key });
}

/** Forgets the counters of windows that have ended (the sweep, once a minute). */
export function* pruneRateLimits(now: string): Op<number> {
  return (yield* query('limits.prune', { now })).changes;
}

export class DatabaseRateStore implements RateStore {
  private windowMs = 60_000;
  readonly localKeys = false;

  constructor(
    private readonly store: Store,
    readonly prefix: string,
  ) {}

  init(options: Options): void {
    this.windowMs = options.windowMs;
  }

  private info(row: { hits: number; resetAt: string }): ClientRateLimitInfo {
    return { totalHits: row.hits, resetTime: new Date(row.resetAt) };
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const row = await this.store.read(current, this.prefix + key, new Date().toISOString());
    return row && this.info(row);
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const now = Date.now();
    const row = await this.store.write(hit, this.prefix + key, new Date(now).toISOString(), new Date(now + this.windowMs).toISOString());
    return this.info(row);
  }

  async decrement(key: string): Promise<void> {
    await this.store.write(unhit, this.prefix + key);
  }

  async resetKey(key: string): Promise<void> {
    await this.store.write(reset, this.prefix + key);
  }
}
