// The storage seam. A database operation is written ONCE, as a generator that yields named
// queries and receives their results; each dialect supplies only the SQL text behind a name
// (storage/sqlite/sql/*, later storage/postgres/sql/*). So a business rule (how much a reserve
// takes, the charge cap, duplicate turn keys) reads the same on every database, and a driver runs
// the steps its own way: synchronously on SQLite inside the group commit, with `await` on a
// pooled PostgreSQL client. Domain modules never see a driver handle or SQL text.
import type { QueryName, Queries } from './queries';

export interface Step {
  readonly name: QueryName;
  readonly params: object;
}

/** An operation: yields queries, returns its answer. Run it with Store.read or Store.write. */
export type Op<T> = Generator<Step, T, unknown>;

/** One named query, typed by the catalogue in queries/. Use as `const row = yield* query('...', {...})`. */
export function* query<K extends QueryName>(name: K, params: Queries[K]['params']): Op<Queries[K]['result']> {
  return (yield { name, params: params as object }) as Queries[K]['result'];
}

export type { Changes } from './queries/shape';

export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * Runs a read-only operation. Reads of several statements are not isolated from concurrent
   * writes: operations that must see one state (reports totals against details) use write.
   */
  read<A extends unknown[], T>(op: (...args: A) => Op<T>, ...args: A): Promise<T>;
  /**
   * Runs an operation in a write transaction that takes the write lock FIRST (BEGIN IMMEDIATE on
   * SQLite), so no transaction can fail on upgrading a read lock. An error thrown by the operation
   * rolls back everything it wrote. The operation may be run again (it must only touch the
   * database), which is why it is passed as a function and its arguments.
   */
  write<A extends unknown[], T>(op: (...args: A) => Op<T>, ...args: A): Promise<T>;
  /**
   * Runs ONE named query by itself, atomically: on PostgreSQL a single statement outside any
   * BEGIN/COMMIT (one round trip; a statement is its own transaction), on SQLite a write of the
   * group commit. For the hot paths whose steps fit one statement (a whole reserve, a settle of a
   * hold whose terms are known), where a transaction would cost four more round trips.
   */
  once<K extends QueryName>(name: K, params: Queries[K]['params']): Promise<Queries[K]['result']>;
  /** True when the database answers a trivial query. */
  ping(): Promise<boolean>;
  /** A connection pool's use (PostgreSQL), for /metrics. */
  poolStats?(): { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}

/** The plain-SQL shape each dialect gives a query: its text and what the driver returns. */
export type Text =
  | {
      sql: string;
      /**
       * get: the first row or undefined; all: every row; value: the first column of the first row or
       * undefined; values: the first column of every row; run: { changes }.
       */
      mode: 'get' | 'all' | 'value' | 'values' | 'run';
    }
  | {
      /**
       * Statements run in order in one transaction, for a dialect that cannot write several tables
       * in one statement (SQLite has no data-modifying WITH). Each sees the query's parameters plus
       * the columns earlier ones returned; the answer is every column returned, merged. A statement
       * that returns no row ends the script with undefined, which is only allowed before the first
       * change: after one, it is an error (and the write is rolled back).
       */
      steps: string[];
      mode: 'script';
    }
  | {
      /**
       * Nothing to do in this dialect (another row keeps what the query would): answered `{ changes: 0 }`
       * at once, as a `run` that changed nothing, without a statement or a round trip.
       */
      mode: 'none';
      why: string;
    };
export const get = (sql: string): Text => ({ sql, mode: 'get' });
export const all = (sql: string): Text => ({ sql, mode: 'all' });
export const value = (sql: string): Text => ({ sql, mode: 'value' });
export const values = (sql: string): Text => ({ sql, mode: 'values' });
export const run = (sql: string): Text => ({ sql, mode: 'run' });
export const script = (...steps: string[]): Text => ({ steps, mode: 'script' });
export const none = (why: string): Text => ({ why, mode: 'none' });

/** A dialect's texts: one for every query in the catalogue (the compiler checks none is missing). */
export type Texts = { readonly [K in QueryName]: Text };

/** LIMIT and OFFSET for page `page` (from 1) of `perPage` rows, one row more to learn whether another page follows. */
export function pageWindow(page: number, perPage: number): { limit: number; offset: number } {
  return { limit: perPage + 1, offset: (page - 1) * perPage };
}

/** The rows a pageWindow query returned, as the page and whether another follows. */
export function pageOf<T>(rows: T[], perPage: number): { rows: T[]; hasMore: boolean } {
  return { rows: rows.slice(0, perPage), hasMore: rows.length > perPage };
}
