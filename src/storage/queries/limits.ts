// Queries of the throttles' counters (see queries/index.ts).
import type { Changes, Q } from './shape';

export interface LimitQueries {
  /** One more hit in the key's window, or the first of a new window when it ended by `now`. */
  'limits.hit': Q<{ key: string; now: string; resetAt: string }, { hits: number; resetAt: string }>;
  'limits.get': Q<{ key: string; now: string }, { hits: number; resetAt: string } | undefined>;
  'limits.unhit': Q<{ key: string }, Changes>;
  'limits.reset': Q<{ key: string }, Changes>;
  /** Forgets windows that have ended. */
  'limits.prune': Q<{ now: string }, Changes>;
}
