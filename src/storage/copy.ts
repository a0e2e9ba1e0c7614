// `tokenchat db copy --to postgres://...`: moves a SQLite data directory into an empty PostgreSQL
// database in one pass and one transaction (a failure leaves the target as it was), then checks
// the copy: `ledger verify` on it, every table's row count, and every user's balance.
import type { SqliteStore } from './sqlite/store';
import type { PostgresStore } from './postgres/store';
import type { Op } from './op';

/** Tables in an order that satisfies their foreign keys (views, sessions and migrations are not copied). */
const TABLES = [
  'users', 'balances', 'code_batches', 'redemption_codes', 'api_keys', 'api_responses', 'holds', 'orders', 'payment_events', 'ledger', 'spend_limits', 'admin_audit',
  'conversations', 'messages', 'attachments', 'usage_daily', 'usage_daily_all', 'usage_rollup',
];
/** Tables whose `id` is an identity column: its counter moves past the copied ids. */
const WITH_IDS = ['users', 'code_batches', 'redemption_codes', 'api_keys', 'holds', 'orders', 'ledger', 'admin_audit', 'conversations', 'messages', 'attachments'];
const BATCH = 500;
/** An attachment may hold 20 MB of image: a few rows a statement, not 500. */
const BATCH_OF: Record<string, number> = { attachments: 4 };

export class CopyError extends Error {}

/** V: what the caller's checks report of each problem (ledger/verify.ts's Violation). */
export interface CopyReport<V> {
  rows: Record<string, number>;
  users: number;
  violations: V[];
}

export async function copySqliteToPostgres<V>(
  source: SqliteStore,
  target: PostgresStore,
  /** The ledger's checks (ledger/verify.ts), run on the copy: given by the caller, as storage holds no rules. */
  verify: () => Op<V[]>,
  progress: (table: string, done: number, total: number) => void = () => {},
): Promise<CopyReport<V>> {
  const { raw } = source;
  const client = await target.pool.connect();
  const rows: Record<string, number> = {};
  try {
    const existing = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM users')).rows[0]!.n);
    if (existing > 0) throw new CopyError(`the target database is not empty (${existing} users): copy into an empty one`);
    await client.query('BEGIN');
    // A read transaction on SQLite: one consistent state, even while a server writes.
    raw.exec('BEGIN');
    try {
      for (const table of TABLES) {
        const total = raw.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
        const columns = (raw.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name);
        if (table === 'usage_rollup') await client.query('DELETE FROM usage_rollup'); // its seed row comes from the source
        let batch: unknown[][] = [];
        let done = 0;
        const flush = async () => {
          if (batch.length === 0) return;
          const values = batch.map((_, r) => `(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`).join(', ');
          await client.query(`INSERT INTO ${table} (${columns.join(', ')}) OVERRIDING SYSTEM VALUE VALUES ${values}`, batch.flat());
          done += batch.length;
          batch = [];
          progress(table, done, total);
        };
        for (const row of raw.prepare(`SELECT ${columns.join(', ')} FROM ${table}`).raw().iterate() as Iterable<unknown[]>) {
          batch.push(row);
          if (batch.length === (BATCH_OF[table] ?? BATCH)) await flush();
        }
        await flush();
        if (total === 0) progress(table, 0, 0);
        rows[table] = done;
      }
      for (const table of WITH_IDS) {
        await client.query(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), coalesce((SELECT max(id) FROM ${table}), 0) + 1, false)`);
      }
      // The copy, read back before it commits (a difference leaves the target as it was), against
      // the same SQLite snapshot it was read from: counts and every balance.
      for (const table of TABLES) {
        const there = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
        if (there !== rows[table]) throw new CopyError(`${table}: ${rows[table]} rows copied but ${there} in the target`);
      }
      const here = raw.prepare('SELECT user_id, balance FROM balances ORDER BY user_id').all() as Array<{ user_id: number; balance: number }>;
      const copied = (await client.query('SELECT user_id, balance FROM balances ORDER BY user_id')).rows as typeof here;
      const differ = here.find((b, i) => copied[i]?.user_id !== b.user_id || copied[i]?.balance !== b.balance);
      if (differ || copied.length !== here.length) throw new CopyError(`balances differ after the copy (user ${differ?.user_id ?? '?'})`);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    } finally {
      raw.exec('COMMIT');
    }
    const violations = await target.read(verify);
    return { rows, users: rows.users ?? 0, violations };
  } finally {
    client.release();
  }
}
