// `tokenchat db copy --to postgres://…`: a SQLite data directory, made by a real server (accounts,
// an admin grant and its audit row, a redeemed code, chat turns), copied into PostgreSQL: ledger
// verify passes there, every count and balance matches, and a server on the copy shows the same
// figures. Copying needs PostgreSQL, so that part runs under `npm run test:pg`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { createCodes } from '../src/ledger/codes';
import { loadConfig } from '../src/config';
import { grant } from '../src/ledger/ledger';
import { createLogger } from '../src/log';
import { startServer } from '../src/server';
import { PostgresStore } from '../src/storage/postgres/store';
import { verifyLedger } from '../src/ledger/verify';
import { startFakeUpstream } from './fake-upstream';
import { csrfFrom, ON_POSTGRES, register, sqlOf, tempDir } from './helpers';
import { dropSchema, newSchema, testDatabaseUrl } from './db-under-test';

const CLI = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
const copy = (dataDir: string, ...args: string[]) =>
  spawnSync(process.execPath, [CLI, 'db', 'copy', ...args], { env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '' }, encoding: 'utf8' });

test('db copy refuses what it cannot copy, with a one-line error and exit code 1', () => {
  const empty = tempDir();
  const noDb = copy(empty, '--to', 'postgres://127.0.0.1:1/none');
  expect(noDb.status).toBe(1);
  expect(noDb.stderr.trim()).toMatch(/^tokenchat: no database at .*tokenchat\.sqlite: set DATA_DIR/);
  const badUrl = copy(empty, '--to', 'mysql://x');
  expect(badUrl.status).toBe(1);
  expect(badUrl.stderr).toContain('--to must be a postgres:// URL');
  fs.rmSync(empty, { recursive: true, force: true });
});

if (ON_POSTGRES) {
  test('a SQLite data directory copied into PostgreSQL keeps every balance, row and page figure', async () => {
    const dataDir = tempDir();
    const fake = await startFakeUpstream();
    const env = { DATA_DIR: dataDir, PORT: '0', NODE_ENV: 'test', LOG_LEVEL: 'silent', OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, SIGNUP_BONUS: '2000' };
    // The source: a SQLite server, used as people use it.
    const sqlite = await startServer(loadConfig(env), createLogger('silent'));
    const admin = request.agent(sqlite.url);
    const user = request.agent(sqlite.url);
    expect((await register(admin, 'boss')).status).toBe(303);
    expect((await register(user, 'student')).status).toBe(303);
    const source = sqlOf(sqlite.database);
    const [bossId, studentId] = [await source.value("SELECT id FROM users WHERE username = 'boss'"), await source.value("SELECT id FROM users WHERE username = 'student'")];
    await grant(sqlite.database, studentId, 500, { actorId: bossId, note: 'welcome' });
    const [code] = await createCodes(sqlite.database, { tokens: 250, count: 2 });
    const recharge = await user.get('/recharge');
    expect((await user.post('/recharge').type('form').send({ _csrf: csrfFrom(recharge.text), code })).status).toBe(200);
    for (const message of ['First question', 'Second question']) {
      const page = await user.get('/');
      const turnKey = /id="turn-key" name="[^"]+" value="([^"]*)"/.exec(page.text)![1]!;
      const sent = await user.post('/send').type('form').send({ _csrf: csrfFrom(page.text), turn_key: turnKey, conversation_id: '', message, system: '', model: 'gpt-4o-mini', temperature: '', max_tokens: '' });
      expect(sent.status).toBe(303); // without JavaScript: to the conversation, at the answer
    }
    // A file attached (an image: bytes in a BLOB, a BYTEA in PostgreSQL).
    const chat = await user.get('/');
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
    const attached = await user.post('/attachments').set('HX-Request', 'true').field('_csrf', csrfFrom(chat.text)).attach('file', png, { filename: 'leaf.png', contentType: 'image/png' });
    expect(attached.status).toBe(200);
    const usagePage = (await user.get('/usage')).text;
    const before = await source.all('SELECT user_id, balance FROM balances ORDER BY user_id');
    const counts = await source.get('SELECT (SELECT count(*) FROM ledger) AS ledger, (SELECT count(*) FROM holds) AS holds, (SELECT count(*) FROM messages) AS messages, (SELECT count(*) FROM admin_audit) AS audit, (SELECT count(*) FROM redemption_codes) AS codes');
    await sqlite.close();

    const schema = newSchema();
    try {
      const done = copy(dataDir, '--to', testDatabaseUrl(), '--schema', schema);
      expect(done.stderr).toContain('ledger ');
      expect(done.status).toBe(0);
      expect(done.stdout).toContain('verified: row counts and every balance match, ledger verify is clean');
      const again = copy(dataDir, '--to', testDatabaseUrl(), '--schema', schema);
      expect(again.status).toBe(1);
      expect(again.stderr).toContain('the target database is not empty (2 users)');

      const target = new PostgresStore(testDatabaseUrl(), { schema });
      const copied = sqlOf(target);
      expect(await copied.all('SELECT user_id, balance FROM balances ORDER BY user_id')).toEqual(before);
      expect(await copied.get('SELECT (SELECT count(*) FROM ledger) AS ledger, (SELECT count(*) FROM holds) AS holds, (SELECT count(*) FROM messages) AS messages, (SELECT count(*) FROM admin_audit) AS audit, (SELECT count(*) FROM redemption_codes) AS codes')).toEqual(counts);
      expect(await target.read(verifyLedger, 3_600_000)).toEqual([]);
      const [image] = await copied.all('SELECT name, size, data FROM attachments');
      expect({ name: image.name, size: Number(image.size), same: Buffer.compare(image.data as Buffer, png) === 0 }).toEqual({ name: 'leaf.png', size: png.length, same: true });
      await target.close();

      // A server on the copy: the user signs in again and sees the same figures.
      const pg = await startServer(loadConfig({ ...env, DATABASE_URL: testDatabaseUrl(), DATABASE_SCHEMA: schema, SESSION_SECRET: 'copy-test-secret-copy-test-secret-123456' }), createLogger('silent'));
      try {
        const again = request.agent(pg.url);
        const login = await again.get('/login');
        expect((await again.post('/login').type('form').send({ _csrf: csrfFrom(login.text), username: 'student', password: 'correct horse battery' })).status).toBe(303);
        const figures = (html: string) => [...html.matchAll(/<td[^>]*>([\d,]+)<\/td>/g)].map((m) => m[1]).join(' ');
        expect(figures((await again.get('/usage')).text)).toBe(figures(usagePage));
        // New rows get new ids after the copied ones.
        expect((await register(request.agent(pg.url), 'newcomer')).status).toBe(303);
      } finally {
        await pg.close();
      }
    } finally {
      await fake.close();
      await dropSchema(schema);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
}
