// Shared test fixtures: a real server on a loopback port with a temp data directory.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { loadConfig, type Config } from '../src/config';
import { migrateStore, openStore, type AppStore } from '../src/db';
import { createLogger, type Logger } from '../src/log';
import { startServer, type RunningServer } from '../src/server';
import { dropSchema, newSchema, ON_POSTGRES, sqlOf, testDatabaseUrl, type Sql } from './db-under-test';

export { ON_POSTGRES, sqlOf, type Sql } from './db-under-test';

export type Agent = ReturnType<typeof request.agent>;

/** A server on the database under test; tests read its tables through `sql`. */
export interface TestServer extends RunningServer {
  /** Direct SQL on the server's database, the same text on SQLite and PostgreSQL. */
  sql: Sql;
  config: Config;
  dataDir: string;
  agent(): Agent;
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tokenchat-test-'));
}

/** What a server needs to run on the database under test: on PostgreSQL, a schema of its own. */
export function databaseEnv(): { env: Record<string, string>; schema?: string } {
  if (!ON_POSTGRES) return { env: {} };
  const schema = newSchema();
  return { env: { DATABASE_URL: testDatabaseUrl(), SESSION_SECRET: 'test-secret-test-secret-test-secret-1234' }, schema };
}

export async function startTestServer(env: Record<string, string> = {}, opts: { logger?: Logger } = {}): Promise<TestServer> {
  const dataDir = tempDir();
  const where = databaseEnv();
  const config = loadConfig({ DATA_DIR: dataDir, PORT: '0', NODE_ENV: 'test', LOG_LEVEL: 'silent', HASH_CONCURRENCY: '4', ...where.env, ...env });
  const running = await startServer(config, opts.logger ?? createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'), { schema: where.schema });
  return {
    ...running,
    sql: sqlOf(running.database),
    config,
    dataDir,
    agent: () => request.agent(running.url),
    close: async () => {
      await running.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
      if (where.schema) await dropSchema(where.schema);
    },
  };
}

/** The CSRF token of the first form on a page. */
export function csrfFrom(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF token on the page');
  return m[1]!;
}

export async function csrfToken(agent: Agent, page = '/login'): Promise<string> {
  const res = await agent.get(page);
  return csrfFrom(res.text);
}

export async function register(agent: Agent, username: string, password = 'correct horse battery') {
  const _csrf = await csrfToken(agent, '/register');
  return agent.post('/register').type('form').send({ _csrf, username, password, confirm: password });
}

export async function login(agent: Agent, username: string, password = 'correct horse battery') {
  const _csrf = await csrfToken(agent, '/login');
  return agent.post('/login').type('form').send({ _csrf, username, password });
}

/** The value a response sets for a cookie, if it sets one. */
export function setCookie(res: { headers: Record<string, unknown> }, name: string): string | undefined {
  const raw = res.headers['set-cookie'];
  const cookies = Array.isArray(raw) ? (raw as string[]) : [];
  const hit = cookies.find((c) => c.startsWith(`${name}=`));
  return hit?.slice(name.length + 1).split(';')[0];
}

/** A migrated database in a temp directory, for domain tests that need no server. */
export async function openTempDatabase(): Promise<{ database: AppStore; sql: Sql; dir: string; schema?: string; close(): Promise<void> }> {
  const dir = tempDir();
  const where = databaseEnv();
  const database = openStore({ dataDir: dir, databaseUrl: where.env.DATABASE_URL, databasePoolSize: 4, sessionIdleMs: 60_000 }, where.schema);
  await migrateStore(database);
  return {
    database,
    sql: sqlOf(database),
    dir,
    /** On PostgreSQL, the schema this database lives in (for other processes to open it). */
    schema: where.schema,
    close: async () => {
      await database.close();
      fs.rmSync(dir, { recursive: true, force: true });
      if (where.schema) await dropSchema(where.schema);
    },
  };
}

/** A seeded generator of numbers in [0, 1) (mulberry32), so a failing random test can be replayed. */
export function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
