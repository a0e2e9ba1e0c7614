// The PostgreSQL store (DATABASE_URL): a pg pool, the migrations runner, and the driver that runs
// operations (storage/op.ts) with `await`, one round trip per query: reads on a pooled client,
// writes in a READ COMMITTED transaction on one client. Rules that must hold across processes
// are single conditional statements (a reserve's UPDATE ... WHERE balance >= @minimum), so row
// locks, not the isolation level, keep them. Each query is a named prepared statement per
// connection, planned once.
// A database fault never ends the process: every connection has an 'error' listener (pg-pool
// drops its own while a connection is checked out), a connection that failed is never given back
// to the pool, and Availability (availability.ts) refuses at once while the database is away
// (the pool and the connections' settings are in pool.ts).
import pg from 'pg';
import type { Op, Step, Store, Text } from '../op';
import type { Queries, QueryName } from '../queries';
import { POSTGRES } from './sql';
import { writeStarted } from '../write-timer';
import { isConnectionFailure, isDatabaseFault } from '../faults';
import { Availability, PROBE_TIMEOUT_MS } from './availability';
import { clientConfig, cut, GuardedPool, type PostgresTimeouts } from './pool';

export { cut, type PostgresTimeouts } from './pool';
export { migratePostgres, readPgMigrations, schemaOn } from './migrate';

// BIGINT (ids, balances, count(*)) and NUMERIC (sum(...)) as JavaScript numbers, as SQLite gives
// them: every amount the ledger keeps is below MAX_BALANCE (1e15), exact in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v));

/** Serialisation failures and deadlocks: the write is run again, from the start. */
const RETRY_CODES = new Set(['40001', '40P01']);
const MAX_TRIES = 5;

interface Compiled {
  name: string;
  text: string;
  names: string[];
  mode: Exclude<Text['mode'], 'script'>;
}

/** `@name` placeholders as $1.. (one number per distinct name), skipping quoted text and `::` casts. */
export function compile(name: string, text: Text): Compiled {
  if (text.mode === 'script') throw new Error(`query ${name}: PostgreSQL runs one statement per query, not a script`);
  if (text.mode === 'none') return { name, text: '', names: [], mode: 'none' };
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
  timeouts?: PostgresTimeouts;
}

/** How long /healthz waits for SELECT 1. */
export const PING_TIMEOUT_MS = 1500;
/**
 * An operation still unanswered after this long has the database probed: on a stalled network
 * nothing else fails for the length of the statement timeout. Under a heavy load the probe answers
 * and nothing changes (at most one probe a second).
 */
const SLOW_MS = 2000;
export class PostgresStore implements Store {
  readonly dialect = 'postgres' as const;
  readonly pool: pg.Pool;
  /** The schema everything is kept in, when not the connection's default. */
  readonly schema: string | undefined;
  /** Whether the database answers; 'down' and 'up' when that changes (the server logs them). */
  readonly availability: Availability;
  private readonly config: pg.ClientConfig;
  private readonly compiled = new Map<QueryName, Compiled>();
  /** Every connection the pool has open, to cut them all when the database is found away. */
  private readonly clients = new Set<pg.Client>();
  private closed = false;

  constructor(url: string, opts: PostgresOptions = {}) {
    const { schema } = opts;
    if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`schema must be a plain lower-case name, not ${schema}`);
    this.config = clientConfig(url, schema, opts.timeouts ?? {});
    this.availability = new Availability(() => this.probe());
    this.pool = new GuardedPool({ ...this.config, max: opts.poolSize ?? 10 }, this.availability);
    // A connection that fails, idle in the pool (pg-pool's listener) or checked out (ours: pg-pool
    // has none then, and an 'error' event without a listener ends the process), has the database
    // looked into; the query on it, if any, fails by itself.
    this.pool.on('error', () => this.availability.suspect());
    this.pool.on('connect', (client) => {
      this.clients.add(client);
      client.on('error', () => this.availability.suspect());
      client.once('end', () => this.clients.delete(client));
    });
    // Found unreachable: the connections still open would hold their queries until the network
    // gives up. (A server that answered with an error, shutting down or starting, closes them itself.)
    this.availability.on('down', (err) => {
      if (isConnectionFailure(err)) for (const client of this.clients) cut(client);
    });
    this.schema = schema;
  }

  /**
   * A connection of its own (not from the pool), with the store's settings and an 'error'
   * listener. `unbounded`: without the statement timeouts, for migrations, which may run long
   * and wait for another process's migration lock.
   */
  async connectClient(opts: { unbounded?: boolean; onError?: (err: Error) => void } = {}): Promise<pg.Client> {
    if (this.availability.refusal) throw this.availability.refusal;
    const { statement_timeout: _s, query_timeout: _q, idle_in_transaction_session_timeout: _i, ...unbounded } = this.config;
    const client = new pg.Client(opts.unbounded ? unbounded : this.config);
    client.on('error', opts.onError ?? (() => {}));
    try {
      await client.connect();
    } catch (err) {
      if (isDatabaseFault(err)) this.availability.suspect();
      throw err;
    }
    return client;
  }

  /**
   * A new connection and SELECT 1 within PROBE_TIMEOUT_MS, or an error. A server with no connection
   * to spare (53300) is there: the pool's connections serve on, and a request that needs another
   * gets its 503.
   */
  private async probe(): Promise<void> {
    const client = new pg.Client({ ...this.config, connectionTimeoutMillis: PROBE_TIMEOUT_MS, query_timeout: PROBE_TIMEOUT_MS });
    client.on('error', () => {});
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
    });
    try {
      await Promise.race([client.connect().then(() => client.query('SELECT 1')), late]);
      void client.end().catch(() => {});
    } catch (err) {
      cut(client);
      if ((err as { code?: string }).code !== '53300') throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** An error on `client`: has the database looked into when it is a fault; whether the connection may be used again. */
  private usable(err: unknown): boolean {
    if (!isDatabaseFault(err)) return true;
    this.availability.suspect();
    // No SQLSTATE: the network failed, or a statement went unanswered and may still be running.
    return !isConnectionFailure(err);
  }

  private statement(name: QueryName): Compiled {
    let c = this.compiled.get(name);
    if (!c) this.compiled.set(name, (c = compile(name, POSTGRES[name])));
    return c;
  }

  private async exec(client: pg.PoolClient, step: Step): Promise<unknown> {
    const c = this.statement(step.name);
    if (c.mode === 'none') return { changes: 0 };
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

  /** Probes the database should the operation under way take longer than SLOW_MS; clear it when done. */
  private watch(): NodeJS.Timeout {
    return setTimeout(() => this.availability.suspect(), SLOW_MS).unref();
  }

  async once<K extends QueryName>(name: K, params: Queries[K]['params']): Promise<Queries[K]['result']> {
    const done = writeStarted();
    const slow = this.watch();
    try {
      for (let attempt = 1; ; attempt++) {
        const client = await this.pool.connect();
        let broken: Error | undefined;
        try {
          return (await this.exec(client, { name, params: params as object })) as Queries[K]['result'];
        } catch (err) {
          if (!this.usable(err)) broken = err as Error;
          if (attempt < MAX_TRIES && RETRY_CODES.has((err as { code?: string }).code ?? '')) continue;
          throw err;
        } finally {
          client.release(broken);
        }
      }
    } finally {
      clearTimeout(slow);
      done();
    }
  }

  async read<A extends unknown[], T>(op: (...args: A) => Op<T>, ...args: A): Promise<T> {
    const slow = this.watch();
    let broken: Error | undefined;
    let client: pg.PoolClient | undefined;
    try {
      client = await this.pool.connect();
      return await this.drive(op(...args), client);
    } catch (err) {
      if (!this.usable(err)) broken = err as Error;
      throw err;
    } finally {
      client?.release(broken);
      clearTimeout(slow);
    }
  }

  async write<A extends unknown[], T>(op: (...args: A) => Op<T>, ...args: A): Promise<T> {
    const done = writeStarted();
    const slow = this.watch();
    try {
      return await this.transaction(op, args);
    } finally {
      clearTimeout(slow);
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
        // A connection that failed is closed, not rolled back: the server rolls back what it
        // leaves, and a ROLLBACK sent behind an unanswered statement would wait for it.
        if (!this.usable(err)) broken = err as Error;
        else {
          try {
            await client.query('ROLLBACK');
          } catch (e) {
            broken = e as Error; // the connection itself failed: do not give it back to the pool
            this.usable(e);
          }
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

  /** SELECT 1 within PING_TIMEOUT_MS; false at once while the database is known to be away. */
  async ping(): Promise<boolean> {
    if (this.availability.refusal) return false;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS)));
    const answered = this.pool.query<{ one: number }>('SELECT 1 AS one').then((r) => r.rows[0]?.one === 1, () => false);
    try {
      const ok = await Promise.race([answered, late]);
      if (!ok) this.availability.suspect();
      return ok;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.availability.close();
    await this.pool.end();
  }
}
