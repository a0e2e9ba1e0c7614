// `tokenchat db copy --from postgres://...`: the way back, a PostgreSQL database into a new SQLite
// data directory (leaving several hosts for one, or taking a copy home). The same plan as the way
// there (copy-plan.ts: every table of the SQLite schema, parents first), read from one snapshot of
// PostgreSQL through a cursor and written in one SQLite transaction, then checked as the way there is.
import type { PoolClient } from 'pg';
import type { SqliteStore } from './sqlite/store';
import type { PostgresStore } from './postgres/store';
import type { Op } from './op';
import { CopyError, planCopy, SEEDED, type CopyTable } from './copy-plan';
import { sameBalances, type CopyReport } from './copy';

const BATCH = 500;
/** An attachment may hold 20 MB of image: a few rows a fetch, not 500. */
const BATCH_OF: Record<string, number> = { attachments: 4 };

export async function copyPostgresToSqlite<V>(
  source: PostgresStore,
  target: SqliteStore,
  /** The ledger's checks (ledger/verify.ts), run on the copy. */
  verify: () => Op<V[]>,
  progress: (table: string, done: number, total: number) => void = () => {},
): Promise<CopyReport<V>> {
  const { raw } = target;
  const client = await source.pool.connect();
  const rows: Record<string, number> = {};
  try {
    // One snapshot of PostgreSQL, even while servers write to it.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    raw.exec('BEGIN IMMEDIATE');
    try {
      const plan = await planCopy(raw, client);
      for (const { name } of plan.tables) {
        const n = raw.prepare(`SELECT count(*) FROM "${name}"`).pluck().get() as number;
        if (n > 0 && !SEEDED.includes(name)) throw new CopyError(`the target database is not empty (${n} rows in ${name}): copy into a new data directory`);
      }
      for (const name of SEEDED) raw.exec(`DELETE FROM "${name}"`);
      for (const table of plan.tables) rows[table.name] = await copyTable(client, raw, table, progress);
      for (const [name, copied] of Object.entries(rows)) {
        const there = raw.prepare(`SELECT count(*) FROM "${name}"`).pluck().get() as number;
        if (there !== copied) throw new CopyError(`${name}: ${copied} rows copied but ${there} in the target`);
      }
      await sameBalances(raw, client);
      raw.exec('COMMIT');
    } catch (err) {
      if (raw.inTransaction) raw.exec('ROLLBACK');
      throw err;
    } finally {
      await client.query('ROLLBACK');
    }
    const violations = await target.read(verify);
    return { rows, users: rows.users ?? 0, violations };
  } finally {
    client.release();
  }
}

async function copyTable(client: PoolClient, raw: SqliteStore['raw'], table: CopyTable, progress: (table: string, done: number, total: number) => void): Promise<number> {
  const { name, columns } = table;
  const list = columns.map((c) => `"${c}"`).join(', ');
  const total = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${name}`)).rows[0]!.n);
  const insert = raw.prepare(`INSERT INTO "${name}" (${list}) VALUES (${columns.map(() => '?').join(', ')})`);
  await client.query(`DECLARE copy_rows NO SCROLL CURSOR FOR SELECT ${list} FROM ${name}${table.selfReferencing && columns.includes('id') ? ' ORDER BY id' : ''}`);
  let done = 0;
  for (;;) {
    const batch = (await client.query<unknown[]>({ text: `FETCH ${BATCH_OF[name] ?? BATCH} FROM copy_rows`, rowMode: 'array' })).rows;
    if (batch.length === 0) break;
    // BIGINTs come as text (pg keeps their 64 bits): SQLite's INTEGER affinity stores them as integers.
    for (const row of batch) insert.run(row);
    done += batch.length;
    progress(name, done, total);
  }
  await client.query('CLOSE copy_rows');
  if (total === 0) progress(name, 0, 0);
  return done;
}
