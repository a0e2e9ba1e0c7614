// The PostgreSQL store (DATABASE_URL): a pg pool, the migrations runner, and the driver that runs
// operations (storage/op.ts) with `await`, one round trip per query: reads on a pooled client,
// writes in a READ COMMITTED transaction on one client. Rules that must hold across processes
// are single conditional statements (a reserve's UPDATE ... WHERE balance >= @minimum), so row
// locks, not the isolation level, keep them. Each query is a named prepared statement per
// connection, planned once.
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Op, Step, Store, Text } from '../op';
import type { Queries, QueryName } from '../queries';
import { POSTGRES } from './sql';
import { ledgerWrites as writeSeconds } from '../../metrics';

// BIGINT (ids, balances, count(*)) and NUMERIC (sum(...)) as JavaScript numbers, as SQLite gives
// them: every amount the ledger keeps is below MAX_BALANCE (1e15), exact in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v));

export const PG_MIGRATIONS_DIR = path.join(__dirname, '..', '..', '..', 'migrations', 'postgres');
/** Serialisation failures and deadlocks: the write is run again, from the start. */
const RETRY_CODES = new Set(['40001', '40P01']);
const MAX_TRIES = 5;

interface Compiled {
  name: string;
  text: string;
  names: string[];
  mode: Text['mode'];
}

/** `@name` placeholders as $1.. (one number per distinct name), skipping quoted text and `::` casts. */
export function compile(name: string, text: Text): Compiled {
  if (text.mode === 'script') throw new Error(`query ${name}: PostgreSQL runs one statement per query, not a script`);
  const names: string[] = [];
  const sql = text.sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|@([A-Za-z_]\w*)/g, (match, param: string | undefined) => {
    if (!param) return match;
    let i = names.indexOf(param);
    if (i < 0) i = names.push(param) - 1;
    return `$${i + 1}`;
  });
  return { name, text: sql, names, mode: text.mode };
}

export interface PostgresOptions {
  /** The most connections this process opens. */
  poolSize?: number;
  /** A schema to create (if missing) and use: each test file gets its own. */
  schema?: string;
}

export class PostgresStore implements Store {
  readonly dialect = 'postgres' as const;
  readonly pool: pg.Pool;
  /** The schema everything is kept in, when not the connection's default. */
  readonly schema: string | undefined;
  private readonly compiled = new Map<QueryName, Compiled>();
  private closed = false;

  constructor(url: string, opts: PostgresOptions = {}) {
    const { schema } = opts;
    if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`schema must be a plain lower-case name, not ${schema}`);
    // The schema is every connection's search_path from its first statement (a startup option).
    this.pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10, ...(schema && { options: `-c search_path=${schema}` }) });
    // An idle client that errors (the server restarted) must not crash the process.
    this.pool.on('error', () => {});
    this.schema = schema;
  }

  private statement(name: QueryName): Compiled {
    let c = this.compiled.get(name);
    if (!c) this.compiled.set(name, (c = compile(name, POSTGRES[name])));
    return c;
  }

  private async exec(client: pg.PoolClient, step: Step): Promise<unknown> {
    const c = this.statement(step.name);
    const params = step.params as Record<string, unknown>;
    const values = c.names.map((n) => {
      const v = params[n];
      if (v === undefined) throw new Error(`query ${c.name}: no value for @${n}`);
      return v;
    });
    const arrays = c.mode === 'value' || c.mode === 'values';
    const result = await client.query({ name: c.name, text: c.text, values, ...(arrays && { rowMode: 'array' }) });
    switch (c.mode) {
      case 'get': return result.rows[0];
      case 'all': return result.rows;
      case 'value': return (result.rows[0] as unknown[] | undefined)?.[0];
      case 'values': return (result.rows as unknown[][]).map((r) => r[0]);
      case 'run': return { changes: result.rowCount ?? 0 };
    }
  }

  private async drive<T>(op: Op<T>, client: pg.PoolClient): Promise<T> {
    let next = op.next();
    try {
      while (!next.done) next = op.next(await this.exec(client, next.value));
      return next.value;
    } finally {
      if (!next.done) op.return(undefined as T);
    }
  }

  async once<K extends QueryName>(name: K, params: Queries[K]['params']): Promise<Queries[K]['result']> {
    const done = writeSeconds.startTimer();
    try {
      for (let attempt = 1; ; attempt++) {
        const client = await this.pool.connect();
        let broken: Error | undefined;
        try {
          return (await this.exec(client, { name, params: params as object })) as Queries[K]['result'];
        } catch (err) {
          broken = (err as { code?: string }).code ? undefined : (err as Error); // no SQLSTATE: the connection failed
          if (attempt < MAX_TRIES && RETRY_CODES.has((err as { code?: string }).code ?? '')) continue;
          throw err;
        } finally {
          client.release(broken);
        }
      }
    } finally {
      done();
    }
  }

  async read<A extends unknown[], T>(op: (...args: A) => Op<T>, ...args: A): Promise<T> {
    const client = await this.pool.connect();
    try {
      return await this.drive(op(...args), client);
    } finally {
      client.release();
    }
  }

  async write<A extends unknown[], T>(op: (...args: A) => Op<T>, ...args: A): Promise<T> {
    const done = writeSeconds.startTimer();
    try {
      return await this.transaction(op, args);
    } finally {
      done();
    }
  }

  private async transaction<A extends unknown[], T>(op: (...args: A) => Op<T>, args: A): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const value = await this.drive(op(...args), client);
        await client.query('COMMIT');
        return value;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch (e) {
          broken = e as Error; // the connection itself failed: do not give it back to the pool
        }
        if (attempt < MAX_TRIES && RETRY_CODES.has((err as { code?: string }).code ?? '')) continue;
        throw err;
      } finally {
        client.release(broken);
      }
    }
  }

  poolStats(): { total: number; idle: number; waiting: number } {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }

  async ping(): Promise<boolean> {
    try {
      const r = await this.pool.query('SELECT 1 AS one');
      return r.rows[0]?.one === 1;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

export function readPgMigrations(dir = PG_MIGRATIONS_DIR): Array<{ version: number; name: string; sql: string }> {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 3)), name: f, sql: fs.readFileSync(path.join(dir, f), 'utf8') }));
}

/** An arbitrary constant: the advisory lock every process takes to migrate, so ten starting at once apply each migration once. */
const MIGRATE_LOCK = 7_860_011;

/**
 * Applies every migration not yet recorded, each in its own transaction, all under one advisory
 * lock held for the whole run (CREATE SCHEMA IF NOT EXISTS included: it is not safe when two
 * sessions run it at once). Returns the names applied by this call.
 */
export async function migratePostgres(store: PostgresStore, migrations = readPgMigrations(), schema?: string): Promise<string[]> {
  const client = await store.pool.connect();
  const applied: string[] = [];
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATE_LOCK]);
  try {
    if (schema) {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query(`SET search_path TO ${schema}`);
    }
    for (const m of migrations) {
      await client.query('BEGIN');
      try {
        await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
          version    INTEGER PRIMARY KEY,
          name       TEXT NOT NULL,
          applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
        const done = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [m.version]);
        if (done.rowCount === 0) {
          await client.query(m.sql);
          await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
          applied.push(m.name);
        }
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`);
      }
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATE_LOCK]).catch(() => {});
    client.release();
  }
}

/** Creates (`create`) or drops with everything in it (`drop`) a schema, on a connection of its own: for tests and benchmarks. */
export async function schemaOn(url: string, schema: string, action: 'create' | 'drop'): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`schema must be a plain lower-case name, not ${schema}`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(action === 'create' ? `CREATE SCHEMA ${schema}` : `DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}
