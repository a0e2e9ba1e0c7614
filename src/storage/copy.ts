// `tokenchat db copy --to postgres://...`: moves a SQLite data directory into an empty PostgreSQL
// database in one pass and one transaction (a failure leaves the target as it was), then checks
// the copy: `ledger verify` on it, every table's row count, every balance and allowance bucket.
// Which tables, in which order, and which counters: copy-plan.ts reads them from both schemas.
import type { PoolClient } from 'pg';
import type { SqliteStore } from './sqlite/store';
import type { PostgresStore } from './postgres/store';
import type { Op } from './op';
import { CopyError, planCopy, SEEDED, type CopyPlan, type CopyTable } from './copy-plan';

export { CopyError, NOT_COPIED } from './copy-plan';

const BATCH = 500;
/** PostgreSQL takes at most 65,535 parameters a statement. */
const MAX_PARAMS = 65_535;
/** An attachment may hold 20 MB of image: a few rows a statement, not 500. */
const BATCH_OF: Record<string, number> = { attachments: 4 };

/** V: what the caller's checks report of each problem (ledger/verify.ts's Violation). */
export interface CopyReport<V> {
  /** Rows copied, per table, in the order copied. */
  rows: Record<string, number>;
  users: number;
  violations: V[];
}

type Progress = (table: string, done: number, total: number) => void;

export async function copySqliteToPostgres<V>(
  source: SqliteStore,
  target: PostgresStore,
  /** The ledger's checks (ledger/verify.ts), run on the copy: given by the caller, as storage holds no rules. */
  verify: () => Op<V[]>,
  progress: Progress = () => {},
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
      const plan = await planCopy(raw, client);
      await emptyTarget(client, plan);
      for (const table of plan.tables) rows[table.name] = await copyTable(raw, client, table, progress);
      for (const { table, column } of plan.counters) {
        await client.query(`SELECT setval(pg_get_serial_sequence('${table}', '${column}'), coalesce((SELECT max(${column}) FROM ${table}), 0) + 1, false)`);
      }
      await checkCopy(raw, client, rows);
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

/** Only rows the target's own migrations seeded may be there; they make way for the source's. */
async function emptyTarget(client: PoolClient, plan: CopyPlan): Promise<void> {
  for (const { name } of plan.tables) {
    if (SEEDED.includes(name)) continue;
    const n = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${name}`)).rows[0]!.n);
    if (n > 0) throw new CopyError(`the target database is not empty (${n} rows in ${name}): copy into an empty one`);
  }
  for (const name of SEEDED) await client.query(`DELETE FROM ${name}`);
}

async function copyTable(raw: SqliteStore['raw'], client: PoolClient, table: CopyTable, progress: Progress): Promise<number> {
  const { name, columns } = table;
  const total = raw.prepare(`SELECT count(*) FROM "${name}"`).pluck().get() as number;
  const size = Math.min(BATCH_OF[name] ?? BATCH, Math.floor(MAX_PARAMS / columns.length));
  const list = columns.map((c) => `"${c}"`).join(', ');
  let batch: unknown[][] = [];
  let done = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const values = batch.map((_, r) => `(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`).join(', ');
    await client.query(`INSERT INTO ${name} (${list}) OVERRIDING SYSTEM VALUE VALUES ${values}`, batch.flat());
    done += batch.length;
    batch = [];
    progress(name, done, total);
  };
  const read = raw.prepare(`SELECT ${list} FROM "${name}"${table.selfReferencing ? ' ORDER BY rowid' : ''}`).raw();
  for (const row of read.iterate() as Iterable<unknown[]>) {
    batch.push(row);
    if (batch.length === size) await flush();
  }
  await flush();
  if (total === 0) progress(name, 0, 0);
  return done;
}

/** The copy, read back before it commits (a difference leaves the target as it was), against the
 * same SQLite snapshot it was read from: every table's count, every balance and allowance bucket. */
async function checkCopy(raw: SqliteStore['raw'], client: PoolClient, rows: Record<string, number>): Promise<void> {
  for (const [table, copied] of Object.entries(rows)) {
    const there = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
    if (there !== copied) throw new CopyError(`${table}: ${copied} rows copied but ${there} in the target`);
  }
  await sameBalances(raw, client);
}

/** Every balance and allowance bucket the same in both databases (either being the copy). */
export async function sameBalances(raw: SqliteStore['raw'], client: PoolClient): Promise<void> {
  const same = async (what: string, text: string) => {
    const here = raw.prepare(text).raw().all() as Array<[number, number]>;
    const copied = (await client.query<[string, string]>({ text, rowMode: 'array' })).rows;
    const differ = here.find(([id, value], i) => Number(copied[i]?.[0]) !== id || Number(copied[i]?.[1]) !== value);
    if (differ || copied.length !== here.length) throw new CopyError(`${what} differ after the copy (${differ?.[0] ?? '?'})`);
  };
  await same('balances', 'SELECT user_id, balance FROM balances ORDER BY user_id');
  await same('allowance buckets', 'SELECT id, balance FROM allowances ORDER BY id');
}
