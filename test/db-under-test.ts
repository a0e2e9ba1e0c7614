// Which database the suite runs on: SQLite files (npm test), or PostgreSQL (npm run test:pg, with
// TEST_DATABASE_URL), each test file in a schema of its own so parallel workers never see each
// other's rows. Tests read and write tables directly through `sqlOf(store)`, the same SQL on both
// (`?` placeholders; plain SELECT/UPDATE/INSERT).
import crypto from 'node:crypto';
import type { AppStore } from '../src/db';
import { schemaOn } from '../src/storage/postgres/store';

export const ON_POSTGRES = process.env.TEST_DIALECT === 'postgres';

export function testDatabaseUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('TEST_DATABASE_URL is not set: npm run test:pg needs a PostgreSQL database (see docs/development.md)');
  return url;
}

/** A fresh schema name for one server or temp database. */
export function newSchema(): string {
  return `t_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
}

/** Drops a test schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  await schemaOn(testDatabaseUrl(), schema, 'drop');
}

export interface Sql {
  all<T = any>(text: string, ...params: unknown[]): Promise<T[]>;
  get<T = any>(text: string, ...params: unknown[]): Promise<T | undefined>;
  /** The first column of the first row. */
  value<T = any>(text: string, ...params: unknown[]): Promise<T | undefined>;
  /** Rows changed. */
  run(text: string, ...params: unknown[]): Promise<number>;
}

const positional = (text: string) => {
  let n = 0;
  return text.replace(/'(?:[^']|'')*'|\?/g, (m) => (m === '?' ? `$${++n}` : m));
};

/** Direct SQL on the database under test, for fixtures and assertions. */
export function sqlOf(store: AppStore): Sql {
  if (store.dialect === 'sqlite') {
    const { raw } = store;
    return {
      all: async (text, ...p) => raw.prepare(text).all(...p) as any[],
      get: async (text, ...p) => raw.prepare(text).get(...p) as any,
      value: async (text, ...p) => {
        const s = raw.prepare(text);
        return (s.reader ? s.pluck().get(...p) : (s.run(...p), undefined)) as any;
      },
      run: async (text, ...p) => raw.prepare(text).run(...p).changes,
    };
  }
  const query = (text: string, p: unknown[]) => store.pool.query(positional(text), p);
  return {
    all: async (text, ...p) => (await query(text, p)).rows,
    get: async (text, ...p) => (await query(text, p)).rows[0],
    value: async (text, ...p) => {
      const r = await store.pool.query({ text: positional(text), values: p, rowMode: 'array' });
      return (r.rows[0] as unknown[] | undefined)?.[0] as any;
    },
    run: async (text, ...p) => (await query(text, p)).rowCount ?? 0,
  };
}
