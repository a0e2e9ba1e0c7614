// The signals between server processes (storage/signals.ts), on PostgreSQL only: kept in the
// signals table (migration 024) and announced on the schema's channel. Not operations of the
// catalogue: they run on the listening connection, or on the pool outside any operation.
export const SIGNALS_SQL = {
  /**
   * Keeps a signal ($2, JSON) and announces it on channel $1 with its id added, forgetting those
   * older than ten minutes (a missed Stop matters while its answer runs, not after).
   */
  send: `WITH forgotten AS (DELETE FROM signals WHERE sent_at < now() - interval '10 minutes'),
    kept AS (INSERT INTO signals (payload) VALUES ($2::text) RETURNING id)
    SELECT pg_notify($1, (jsonb_build_object('id', id) || $2::text::jsonb)::text) FROM kept`,
  /** The newest signal's id: where a process that starts listening begins. */
  newest: 'SELECT coalesce(max(id), 0) AS id FROM signals',
  /** The signals after id $1, oldest first: what a process missed while it was not listening. */
  since: 'SELECT id, payload FROM signals WHERE id > $1 ORDER BY id',
} as const;
