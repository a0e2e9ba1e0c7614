// PostgreSQL texts of the throttles' queries.
import { get, run, type Text } from '../../op';
import type { LimitQueries } from '../../queries/limits';

export const limitsSql: { readonly [K in keyof LimitQueries]: Text } = {
  'limits.hit': get(`INSERT INTO rate_limits (key, hits, reset_at) VALUES (@key::text, 1, @resetAt::text)
    ON CONFLICT (key) DO UPDATE SET
      hits = CASE WHEN rate_limits.reset_at <= @now::text THEN 1 ELSE rate_limits.hits + 1 END,
      reset_at = CASE WHEN rate_limits.reset_at <= @now::text THEN excluded.reset_at ELSE rate_limits.reset_at END
    RETURNING hits, reset_at AS "resetAt"`),
  'limits.get': get('SELECT hits, reset_at AS "resetAt" FROM rate_limits WHERE key = @key::text AND reset_at > @now::text'),
  'limits.unhit': run('UPDATE rate_limits SET hits = GREATEST(hits - 1, 0) WHERE key = @key::text'),
  'limits.reset': run('DELETE FROM rate_limits WHERE key = @key::text'),
  'limits.prune': run('DELETE FROM rate_limits WHERE reset_at <= @now::text'),
};
