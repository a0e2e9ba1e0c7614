// `tokenchat db copy --to postgres://…`: a SQLite data directory with a row in every table
// (db-copy-fixture.ts: a class with an allowance spent from, limits, invites, keys, a share, presets,
// an image, a kept /v1 response, a paid order) copied into PostgreSQL: every table of the migrated
// schema is copied or left out with a written reason, every count and balance matches, bytes stay
// bytes, ledger verify passes there, and a server on the copy goes on spending the allowance; then
// back (`--from`) into a new SQLite data directory, where the same holds.
// Copying needs PostgreSQL, so that part runs under `npm run test:pg`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/log';
import { startServer } from '../src/server';
import { PostgresStore } from '../src/storage/postgres/store';
import { NOT_COPIED, sourceTables } from '../src/storage/copy-plan';
import { openDatabase, migrate } from '../src/db';
import { verifyLedger } from '../src/ledger/verify';
import { startFakeUpstream } from './fake-upstream';
import { BLOB, fillEveryTable, pageTurn } from './db-copy-fixture';
import { ON_POSTGRES, login, register, sqlOf, tempDir } from './helpers';
import { dropSchema, newSchema, testDatabaseUrl } from './db-under-test';

const CLI = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
const copy = (dataDir: string, ...args: string[]) =>
  spawnSync(process.execPath, [CLI, 'db', 'copy', ...args], { env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '' }, encoding: 'utf8' });

/** Every table of a fully migrated SQLite database but SQLite's own, and those the copy takes. */
function migratedTables(): { all: string[]; copied: string[] } {
  const dir = tempDir();
  const db = openDatabase(dir);
  migrate(db);
  const all = db.raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").pluck().all() as string[];
  const copied = sourceTables(db.raw);
  db.raw.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { all, copied };
}

test('every table of the schema is copied, or left out with a reason written beside it', () => {
  const { all, copied } = migratedTables();
  for (const [table, why] of Object.entries(NOT_COPIED)) expect({ table, why: why.length > 20, exists: all.includes(table) }).toEqual({ table, why: true, exists: true });
  expect(all.filter((t) => !copied.includes(t) && !(t in NOT_COPIED))).toEqual([]);
  expect(copied).toEqual(all.filter((t) => !(t in NOT_COPIED)));
  expect(copied).toEqual(expect.arrayContaining(['groups', 'group_members', 'allowances', 'allowance_ledger', 'user_limits', 'request_log', 'invites', 'oidc_identities', 'admin_api_keys', 'shares', 'presets', 'api_responses', 'orders']));
});

test('db copy refuses what it cannot copy, with a one-line error and exit code 1', () => {
  const empty = tempDir();
  const noDb = copy(empty, '--to', 'postgres://127.0.0.1:1/none');
  expect(noDb.status).toBe(1);
  expect(noDb.stderr.trim()).toMatch(/^tokenchat: no database at .*tokenchat\.sqlite: set DATA_DIR/);
  const badUrl = copy(empty, '--to', 'mysql://x');
  expect(badUrl.status).toBe(1);
  expect(badUrl.stderr).toContain('--to must be a postgres:// URL');
  expect(copy(empty, '--from', 'mysql://x').stderr).toContain('--from must be a postgres:// URL');
  const neither = copy(empty);
  expect({ status: neither.status, said: neither.stderr.includes('give either --to <postgres url> or --from <postgres url>') }).toEqual({ status: 1, said: true });
  expect(fs.readdirSync(empty)).toEqual([]);
  fs.rmSync(empty, { recursive: true, force: true });
});


/** Rows per table, by the same SQL on either database. */
async function countsOf(sql: ReturnType<typeof sqlOf>, tables: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of tables) out[t] = Number(await sql.value(`SELECT count(*) FROM ${t}`));
  return out;
}

if (ON_POSTGRES) {
  test('a SQLite data directory copied into PostgreSQL and back keeps every table, balance, bucket and byte, and goes on spending', async () => {
    const dataDir = tempDir();
    const fake = await startFakeUpstream();
    const env = { DATA_DIR: dataDir, PORT: '0', NODE_ENV: 'test', LOG_LEVEL: 'silent', OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, SIGNUP_BONUS: '2000' };
    const tables = migratedTables().copied;
    // The source: a SQLite server, used as a school uses it.
    const sqlite = await startServer(loadConfig(env), createLogger('silent'));
    const schema = newSchema();
    try {
      const { studentId } = await fillEveryTable(sqlite);
      const source = sqlOf(sqlite.database);
      const counts = await countsOf(source, tables);
      // A table the fixture leaves empty would be copied untested: give it a row there.
      expect(Object.keys(counts).filter((t) => counts[t] === 0)).toEqual([]);
      expect(await sqlite.database.read(verifyLedger, 3_600_000)).toEqual([]);
      const balances = await source.all('SELECT user_id, balance FROM balances ORDER BY user_id');
      const buckets = await source.all('SELECT id, user_id, balance FROM allowances ORDER BY id');
      expect(buckets.find((b) => b.user_id === studentId)!.balance).toBeLessThan(5000); // spent from
      const bucketRows = await source.all('SELECT id, allowance_id, kind, amount, balance_after, period, hold_id FROM allowance_ledger ORDER BY id');
      await sqlite.close();

      const done = copy(dataDir, '--to', testDatabaseUrl(), '--schema', schema);
      expect(done.stderr).toContain('allowance_ledger ');
      expect(done.status).toBe(0);
      expect(done.stdout).toContain('verified: row counts and every balance match, ledger verify is clean');
      const again = copy(dataDir, '--to', testDatabaseUrl(), '--schema', schema);
      expect(again.status).toBe(1);
      expect(again.stderr).toContain('the target database is not empty (2 users)');

      const target = new PostgresStore(testDatabaseUrl(), { schema });
      const copied = sqlOf(target);
      expect(await countsOf(copied, tables)).toEqual(counts);
      expect(await copied.all('SELECT user_id, balance FROM balances ORDER BY user_id')).toEqual(balances);
      expect(await copied.all('SELECT id, user_id, balance FROM allowances ORDER BY id')).toEqual(buckets);
      expect(await copied.all('SELECT id, allowance_id, kind, amount, balance_after, period, hold_id FROM allowance_ledger ORDER BY id')).toEqual(bucketRows);
      expect(await target.read(verifyLedger, 3_600_000)).toEqual([]);
      // Every identity counter continues after the copied ids (a group, an invite, a bucket row made next gets a new id).
      const counters = await copied.all("SELECT table_name AS t, column_name AS c FROM information_schema.columns WHERE table_schema = current_schema() AND is_identity = 'YES'");
      expect(counters.length).toBeGreaterThan(20);
      for (const { t, c } of counters) {
        const [next, max] = [Number(await copied.value(`SELECT nextval(pg_get_serial_sequence('${t}', '${c}'))`)), Number(await copied.value(`SELECT coalesce(max(${c}), 0) FROM ${t}`))];
        expect({ t, after: next > max }).toEqual({ t, after: true });
      }
      const [image] = await copied.all('SELECT name, size, data FROM attachments');
      expect({ name: image.name, size: Number(image.size), same: Buffer.compare(image.data as Buffer, BLOB) === 0 }).toEqual({ name: 'leaf.png', size: BLOB.length, same: true });
      await target.close();

      // A server on the copy: the student signs in again and spends from the same allowance.
      const pg = await startServer(loadConfig({ ...env, DATABASE_URL: testDatabaseUrl(), DATABASE_SCHEMA: schema, SESSION_SECRET: 'copy-test-secret-copy-test-secret-123456' }), createLogger('silent'));
      try {
        const student = request.agent(pg.url);
        expect((await login(student, 'student')).status).toBe(303);
        await pageTurn(student, 'A question after the move');
        const after = sqlOf(pg.database);
        const bucket = (await after.get('SELECT balance FROM allowances WHERE user_id = ?', studentId)) as { balance: number };
        expect(Number(bucket.balance)).toBeLessThan(buckets.find((b) => b.user_id === studentId)!.balance);
        expect(Number(await after.value('SELECT count(*) FROM allowance_ledger'))).toBeGreaterThan(bucketRows.length);
        expect(await pg.database.read(verifyLedger, 3_600_000)).toEqual([]);
        // New rows get ids after the copied ones, in every table a person can add to.
        expect((await register(request.agent(pg.url), 'newcomer')).status).toBe(303);
      } finally {
        await pg.close();
      }
      await copyBack(schema, env, tables, studentId);
    } finally {
      await sqlite.close().catch(() => {}); // closed already, unless the fixture failed
      await fake.close();
      await dropSchema(schema);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
}

/** The way back: the PostgreSQL copy (with a turn more) into a new data directory, where the student goes on spending. */
async function copyBack(schema: string, env: Record<string, string>, tables: string[], studentId: number): Promise<void> {
  const target = new PostgresStore(testDatabaseUrl(), { schema });
  const there = sqlOf(target);
  const counts = await countsOf(there, tables);
  const buckets = await there.all('SELECT id, user_id, balance FROM allowances ORDER BY id');
  await target.close();
  const backDir = tempDir();
  try {
    const done = copy(backDir, '--from', testDatabaseUrl(), '--schema', schema);
    expect(done.stderr).toContain('allowance_ledger ');
    expect(done.status).toBe(0);
    expect(done.stdout).toContain('into SQLite');
    expect(copy(backDir, '--from', testDatabaseUrl(), '--schema', schema).stderr).toContain('exists already: set DATA_DIR to a new directory');
    const server = await startServer(loadConfig({ ...env, DATA_DIR: backDir }), createLogger('silent'));
    try {
      const back = sqlOf(server.database);
      expect(await countsOf(back, tables)).toEqual(counts);
      expect(await back.all('SELECT id, user_id, balance FROM allowances ORDER BY id')).toEqual(buckets);
      expect(await back.value("SELECT count(*) FROM ledger WHERE typeof(amount) <> 'integer' OR typeof(id) <> 'integer'")).toBe(0);
      const [image] = await back.all('SELECT data FROM attachments');
      expect(Buffer.compare(image.data as Buffer, BLOB)).toBe(0);
      const student = request.agent(server.url);
      expect((await login(student, 'student')).status).toBe(303);
      await pageTurn(student, 'Home again');
      expect(await back.value('SELECT balance FROM allowances WHERE user_id = ?', studentId)).toBeLessThan(buckets.find((b) => b.user_id === studentId)!.balance);
      expect(await server.database.read(verifyLedger, 3_600_000)).toEqual([]);
    } finally {
      await server.close();
    }
  } finally {
    fs.rmSync(backDir, { recursive: true, force: true });
  }
}

if (ON_POSTGRES) {
  test('db copy refuses a SQLite database ahead of the PostgreSQL migrations, and leaves the target empty', async () => {
    const dataDir = tempDir();
    const db = openDatabase(dataDir);
    migrate(db);
    db.raw.exec("CREATE TABLE zz_later (id INTEGER PRIMARY KEY); ALTER TABLE presets ADD COLUMN zz_colour TEXT; INSERT INTO users (username, username_key, password_hash) VALUES ('kept', 'kept', '$argon2id$x')");
    db.raw.close();
    const schema = newSchema();
    try {
      const refused = copy(dataDir, '--to', testDatabaseUrl(), '--schema', schema);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/^tokenchat: (table zz_later is not|presets\.zz_colour not) in the PostgreSQL database: its migrations are behind/);
      const target = new PostgresStore(testDatabaseUrl(), { schema });
      expect(Number(await sqlOf(target).value('SELECT count(*) FROM users'))).toBe(0);
      await target.close();
    } finally {
      await dropSchema(schema);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 30_000);
}
