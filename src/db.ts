// The database connection and the migrations runner.
import fs from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import type { UsersTable } from './users';

export interface Tables {
  users: UsersTable;
}

export type Db = Kysely<Tables>;

export const MIGRATIONS_DIR = path.join(__dirname, '..', 'migrations');
const BUSY_TIMEOUT_MS = 5000;

export interface Database {
  db: Db;
  /** The underlying SQLite handle, for migrations and health checks. */
  raw: SqliteDatabase.Database;
  close(): Promise<void>;
}

export function appDbPath(dataDir: string): string {
  return path.join(dataDir, 'tokenchat.sqlite');
}

/** Opens (creating if needed) the app database under dataDir in WAL mode with a busy timeout. */
export function openDatabase(dataDir: string): Database {
  fs.mkdirSync(dataDir, { recursive: true });
  const raw = new SqliteDatabase(appDbPath(dataDir), { timeout: BUSY_TIMEOUT_MS });
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  raw.pragma('foreign_keys = ON');
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: raw }) });
  let closed = false;
  return {
    db,
    raw,
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy(); // closes `raw` too
    },
  };
}

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((f) => ({
      version: Number(f.slice(0, 3)),
      name: f,
      sql: fs.readFileSync(path.join(dir, f), 'utf8'),
    }));
}

/**
 * Applies every migration not yet recorded, each in its own transaction. BEGIN IMMEDIATE takes the
 * write lock first, so two processes starting at once apply each migration exactly once.
 * Returns the names applied by this call.
 */
export function migrate(database: Database, migrations = readMigrations()): string[] {
  const { raw } = database;
  raw.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))`);
  const applied: string[] = [];
  const isApplied = raw.prepare('SELECT 1 FROM schema_migrations WHERE version = ?');
  const record = raw.prepare('INSERT INTO schema_migrations (version, name) VALUES (?, ?)');
  for (const m of migrations) {
    raw.exec('BEGIN IMMEDIATE');
    try {
      if (!isApplied.get(m.version)) {
        raw.exec(m.sql);
        record.run(m.version, m.name);
        applied.push(m.name);
      }
      raw.exec('COMMIT');
    } catch (err) {
      raw.exec('ROLLBACK');
      throw new Error(`migration ${m.name} failed: ${(err as Error).message}`);
    }
  }
  return applied;
}

/** True when the database answers a trivial query. */
export async function isReachable(db: Db): Promise<boolean> {
  try {
    await sql`SELECT 1`.execute(db);
    return true;
  } catch {
    return false;
  }
}

/**
 * Copies the app database with SQLite's online backup (consistent while the server writes) and
 * the session secret into `dir`. Sessions are left out: after a restore users sign in again.
 */
export async function backupDataDir(dataDir: string, dir: string): Promise<string[]> {
  const source = appDbPath(dataDir);
  if (!fs.existsSync(source)) throw new Error(`no database at ${source}`);
  fs.mkdirSync(dir, { recursive: true });
  const target = path.join(dir, path.basename(source));
  if (fs.existsSync(target)) throw new Error(`${target} already exists; choose an empty directory`);
  const raw = new SqliteDatabase(source, { readonly: true, timeout: BUSY_TIMEOUT_MS });
  try {
    await raw.backup(target);
  } finally {
    raw.close();
  }
  const copied = [path.basename(source)];
  const secret = path.join(dataDir, 'session-secret');
  if (fs.existsSync(secret)) {
    fs.copyFileSync(secret, path.join(dir, 'session-secret'));
    fs.chmodSync(path.join(dir, 'session-secret'), 0o600);
    copied.push('session-secret');
  }
  return copied;
}

/** LIMIT and OFFSET for page `page` (from 1) of `perPage` rows, one row more to learn whether another page follows. */
export function pageWindow(page: number, perPage: number): { limit: number; offset: number } {
  return { limit: perPage + 1, offset: (page - 1) * perPage };
}

/** The rows a pageWindow query returned, as the page and whether another follows. */
export function pageOf<T>(rows: T[], perPage: number): { rows: T[]; hasMore: boolean } {
  return { rows: rows.slice(0, perPage), hasMore: rows.length > perPage };
}
