// PostgreSQL's migrations (migrations/postgres/NNN_name.sql), applied at start-up by every process
// under one advisory lock, on a connection without the statement timeouts (a migration may run
// long, and wait for another process's); and schemas for tests and benchmarks.
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';

/** Opens a connection of its own with the store's settings (PostgresStore.connectClient). */
interface Connects {
  connectClient(opts: { unbounded: true }): Promise<pg.Client>;
}

export const PG_MIGRATIONS_DIR = path.join(__dirname, '..', '..', '..', 'migrations', 'postgres');

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
export async function migratePostgres(store: Connects, migrations = readPgMigrations(), schema?: string): Promise<string[]> {
  const client = await store.connectClient({ unbounded: true });
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
    await client.end().catch(() => {});
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
