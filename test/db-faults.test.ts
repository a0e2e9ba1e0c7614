// Database faults (issue 30, items 6 and 7): no fault of the database ends a server process.
// PostgreSQL (npm run test:pg): a real `tokenchat serve` talks to the database through a TCP proxy
// on loopback (fault-proxy.ts) that drops its connections, refuses new ones or stalls them; while
// the database is away pages and /v1 fail at once with a 503 that says so, /healthz answers 503
// within its bound, the answer running is settled when the database is back, and the ledger adds
// up. SQLite (npm test): another process holding the write lock past the busy timeout.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { createKey, generateKey } from '../src/accounts/api-keys';
import { appDbPath, openStore, type AppStore } from '../src/db';
import { verifyLedger } from '../src/ledger/verify';
import { loadModels, priceOf } from '../src/metering/models';
import { sendSignal } from '../src/storage/signals';
import { gate, startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { startFaultProxy, type FaultProxy } from './fault-proxy';
import { csrfFrom, ON_POSTGRES, register, sqlOf, startTestServer, tempDir, type Sql, type TestServer } from './helpers';
import { dropSchema, newSchema, testDatabaseUrl } from './db-under-test';

const CLI = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
const MINI = loadModels().find('gpt-4o-mini')!;
const OUTAGE_TEXT = 'The database is not answering right now';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `work`, answering what it gave and how long it took. */
async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await work;
  return { value, ms: Date.now() - started };
}

/** Polls `check` every 200 ms until it is true or `ms` pass; answers whether it came true. */
async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  for (const giveUp = Date.now() + ms; Date.now() < giveUp; await sleep(200)) if (await check().catch(() => false)) return true;
  return false;
}

/** Every balance is the sum of its ledger rows, no hold is left open, and `ledger verify` finds nothing. */
async function expectLedgerAddsUp(store: AppStore, sql: Sql, userId: number): Promise<void> {
  expect(await sql.value("SELECT count(*) FROM holds WHERE user_id = ? AND state = 'held'", userId)).toBe(0);
  const balance = await sql.value<number>('SELECT balance FROM balances WHERE user_id = ?', userId);
  expect(await sql.value('SELECT coalesce(sum(amount), 0) FROM ledger WHERE user_id = ?', userId)).toBe(balance);
  expect(await store.read(verifyLedger, 3_600_000)).toEqual([]);
}

if (ON_POSTGRES) {
  let fake: FakeUpstream;
  let proxy: FaultProxy;
  let dataDir: string;
  let schema: string;
  let server: { url: string; child: ChildProcess; log: string[] };
  let store: AppStore;
  let sql: Sql;
  /** Alice's browser cookies, kept from every answer. */
  const jar = new Map<string, string>();
  const keep = (res: Response) => {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      jar.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
    return res;
  };
  const cookies = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  let aliceId: number;
  let apiKey: string;

  /** Starts `tokenchat serve` and resolves once it listens; its log lines are kept. */
  const serve = (env: Record<string, string>): Promise<{ url: string; child: ChildProcess; log: string[] }> => {
    const child = spawn(process.execPath, [CLI, 'serve'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const log: string[] = [];
    return new Promise((resolve, reject) => {
      readline.createInterface({ input: child.stderr! }).on('line', (line) => log.push(line));
      readline.createInterface({ input: child.stdout! }).on('line', (line) => {
        log.push(line);
        try {
          const entry = JSON.parse(line) as { msg?: string; url?: string };
          if (entry.msg === 'tokenchat listening' && entry.url) resolve({ url: entry.url, child, log });
        } catch {
          // not a log line
        }
      });
      child.once('exit', (code) => reject(new Error(`server exited ${code} before listening: ${log.join('\n')}`)));
    });
  };

  /** The server process is still running (an unhandled 'error' event would have ended it). */
  const expectAlive = () => {
    expect({ exitCode: server.child.exitCode, signal: server.child.signalCode, crash: server.log.find((l) => l.includes("Unhandled 'error' event")) })
      .toEqual({ exitCode: null, signal: null, crash: undefined });
  };

  const get = async (p: string, headers: Record<string, string> = {}) =>
    keep(await fetch(`${server.url}${p}`, { headers: { cookie: cookies(), ...headers }, redirect: 'manual', signal: AbortSignal.timeout(20_000) }));
  const v1Models = () => get('/v1/models', { authorization: `Bearer ${apiKey}` });
  const healthz = () => get('/healthz');

  /** Starts a chat turn from the page (streamed, as htmx sends it); `done` resolves with all it streamed. */
  const startTurn = async (message: string): Promise<{ done: Promise<string> }> => {
    const page = await (await get('/')).text();
    const field = (id: string) => new RegExp(`id="${id}" name="[^"]+" value="([^"]*)"`).exec(page)?.[1] ?? '';
    const form = { _csrf: csrfFrom(page), turn_key: field('turn-key'), conversation_id: '', message, system: '', model: MINI.id, temperature: '', max_tokens: '' };
    const done = new Promise<string>((resolve) => {
      let text = '';
      const req = http.request(`${server.url}/send`, {
        method: 'POST', headers: { cookie: cookies(), 'content-type': 'application/x-www-form-urlencoded', 'hx-request': 'true', accept: 'text/html, text/event-stream' },
      }, (res) => {
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve(text)).on('error', () => resolve(text));
      });
      req.on('error', () => resolve(text));
      req.end(new URLSearchParams(form).toString());
    });
    return { done };
  };
  const lastHold = () => sql.get("SELECT id, state, outcome, charge, prompt_tokens, delivered FROM holds WHERE user_id = ? ORDER BY id DESC LIMIT 1", aliceId);

  beforeAll(async () => {
    fake = await startFakeUpstream();
    const direct = new URL(testDatabaseUrl());
    proxy = await startFaultProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    dataDir = tempDir();
    schema = newSchema();
    server = await serve({
      NODE_ENV: 'test', PORT: '0', LOG_LEVEL: 'info', DATA_DIR: dataDir, SESSION_SECRET: 'db-faults-test-secret-db-faults-test-secret',
      OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, SIGNUP_BONUS: '3000', SHUTDOWN_TIMEOUT_MS: '2000', HOLD_RECOVERY_MINUTES: '1',
      DATABASE_URL: proxy.through(testDatabaseUrl()), DATABASE_SCHEMA: schema,
    });
    store = openStore({ dataDir, databaseUrl: testDatabaseUrl(), databasePoolSize: 2, sessionIdleMs: 60_000 }, schema);
    sql = sqlOf(store);
    // Alice signs up through the server, and has an API key.
    const form = await get('/register');
    const body = new URLSearchParams({ _csrf: csrfFrom(await form.text()), username: 'alice', password: 'correct horse battery', confirm: 'correct horse battery' });
    const created = keep(await fetch(`${server.url}/register`, { method: 'POST', body, headers: { cookie: cookies(), 'content-type': 'application/x-www-form-urlencoded' }, redirect: 'manual' }));
    expect(created.status).toBe(303);
    aliceId = (await sql.value<number>('SELECT id FROM users WHERE username = ?', 'alice'))!;
    apiKey = (await store.write(createKey, aliceId, { name: 'faults', models: null, perDay: null, total: null, expiresAt: null }, generateKey())).key;
  }, 60_000);

  afterAll(async () => {
    await proxy?.heal();
    if (server?.child.exitCode === null) await new Promise((resolve) => (server.child.once('exit', resolve), server.child.kill('SIGTERM')));
    await store?.close();
    await proxy?.close();
    await fake?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    if (schema) await dropSchema(schema);
  }, 60_000);

  test('connections reset under a query, then refused: the process lives; pages, /v1 and /healthz answer 503 at once, saying so; all is well once the database is back', async () => {
    expect((await get('/usage')).status).toBe(200);
    expect((await v1Models()).status).toBe(200);
    // A query on a checked-out connection when the reset comes (pg-pool listens on idle ones only).
    proxy.stall();
    const underway = v1Models();
    await sleep(300);
    proxy.drop();
    await proxy.refuse();
    const cut = await underway;
    expect(cut.status).toBe(503);
    expect(cut.headers.get('x-should-retry')).toBe('true');
    expect((await cut.json()).error).toMatchObject({ type: 'server_error', code: 'database_unavailable' });

    const page = await timed(get('/usage'));
    expect(page.value.status).toBe(503);
    expect(page.value.headers.get('retry-after')).toBe('5');
    expect(await page.value.text()).toContain(OUTAGE_TEXT);
    expect(page.ms).toBeLessThan(3000);
    const api = await timed(v1Models());
    expect(api.value.status).toBe(503);
    expect(api.value.headers.get('x-should-retry')).toBe('true');
    expect(await api.value.json()).toEqual({ error: { message: expect.stringContaining('database'), type: 'server_error', code: 'database_unavailable', param: null } });
    expect(api.ms).toBeLessThan(3000);
    const health = await timed(healthz());
    expect(health.value.status).toBe(503);
    expect(await health.value.json()).toMatchObject({ status: 'unavailable' });
    expect(health.ms).toBeLessThan(2500);

    await sleep(2000);
    expectAlive();
    await proxy.heal();
    expect(await eventually(async () => (await healthz()).status === 200, 10_000)).toBe(true);
    expect((await get('/usage')).status).toBe(200);
    expect((await v1Models()).status).toBe(200);
    expectAlive();
  }, 60_000);

  test('a short outage mid-answer: the answer goes on and is charged exactly its usage once the database is back', async () => {
    const g = gate();
    fake.script({ kind: 'stream', pieces: ['Still', ' here', ' after', ' all'], usage: { prompt_tokens: 12, completion_tokens: 4 }, gate: g, gateAfter: 1 });
    const answer = await startTurn('Keep talking');
    await g.reached;
    expect(await eventually(async () => (await lastHold())?.delivered > 0, 5000)).toBe(true);
    const { id } = await lastHold();
    proxy.drop();
    await proxy.refuse();
    const page = await timed(get('/usage'));
    expect(page.value.status).toBe(503);
    expect(await page.value.text()).toContain(OUTAGE_TEXT);
    expect(page.ms).toBeLessThan(3000);
    await sleep(1500);
    await proxy.heal();
    g.release(); // the answer ends as the database comes back: its settle gets through
    expect(await answer.done).toContain(' after all');
    expect(await eventually(async () => (await lastHold()).state !== 'held', 10_000)).toBe(true);
    expect(await sql.get('SELECT state, outcome, charge FROM holds WHERE id = ?', id)).toEqual({ state: 'settled', outcome: 'ok', charge: priceOf(MINI, 12, 4) });
    await expectLedgerAddsUp(store, sql, aliceId);
    expectAlive();
  }, 60_000);

  test('Stop sent while the listening connection was down still ends the answer once it listens again', async () => {
    const g = gate();
    fake.script({ kind: 'stream', pieces: ['Going', ' on', ' and on'], gate: g, gateAfter: 1 });
    const answer = await startTurn('Tell me everything');
    await g.reached;
    expect(await eventually(async () => (await lastHold())?.delivered > 0, 5000)).toBe(true);
    const { id } = await lastHold();
    const conversationId = await sql.value<number>('SELECT conversation_id FROM messages WHERE hold_id = ?', id);
    proxy.drop();
    await proxy.refuse();
    // Another process's Stop, straight to the database while this server cannot hear it.
    expect(await sendSignal(store, { kind: 'stop', userId: aliceId, conversationId })).toBe(true);
    await sleep(1000);
    await proxy.heal();
    expect(await eventually(async () => (await sql.value('SELECT state FROM holds WHERE id = ?', id)) !== 'held', 15_000)).toBe(true);
    g.release();
    expect(await sql.get('SELECT state, outcome FROM holds WHERE id = ?', id)).toEqual({ state: 'settled', outcome: 'stopped' });
    expect(await answer.done).toContain('Stopped.');
    await expectLedgerAddsUp(store, sql, aliceId);
    expectAlive();
  }, 60_000);

  test('a stalled database: /healthz answers 503 within its bound, requests fail instead of hanging, and all is well once it flows again', async () => {
    expect((await healthz()).status).toBe(200);
    proxy.stall();
    const health = await timed(healthz());
    expect(health.value.status).toBe(503);
    expect(health.ms).toBeLessThan(2500);
    const page = await timed(get('/usage'));
    expect(page.value.status).toBe(503);
    expect(await page.value.text()).toContain(OUTAGE_TEXT);
    expect(page.ms).toBeLessThan(8000);
    const again = await timed(healthz());
    expect(again.value.status).toBe(503);
    expect(again.ms).toBeLessThan(2500);
    await proxy.heal();
    expect(await eventually(async () => (await healthz()).status === 200, 10_000)).toBe(true);
    expect((await get('/usage')).status).toBe(200);
    expectAlive();
  }, 60_000);

  test('connections reset under an answer as it ends: the process lives, and its settle waits for the database, then charges exactly the reported usage', async () => {
    const g = gate();
    fake.script({ kind: 'stream', pieces: ['Lost', ' in', ' the', ' outage'], usage: { prompt_tokens: 12, completion_tokens: 4 }, gate: g, gateAfter: 1 });
    const answer = await startTurn('And now?');
    await g.reached;
    expect(await eventually(async () => (await lastHold())?.delivered > 0, 5000)).toBe(true);
    const { id } = await lastHold();
    proxy.stall();
    g.release(); // the answer ends now: its last writes wait on stalled connections...
    await sleep(500);
    proxy.drop(); // ...which are reset under them
    await proxy.refuse();
    await sleep(5000); // longer than a few tries: the settle keeps trying while the database is away
    expectAlive();
    await proxy.heal();
    await answer.done;
    // Settled by the turn itself, by the provider's usage: not left to the stop rule.
    expect(await eventually(async () => (await sql.value('SELECT state FROM holds WHERE id = ?', id)) !== 'held', 30_000)).toBe(true);
    expect(await sql.get('SELECT state, outcome, source, charge FROM holds WHERE id = ?', id)).toEqual({ state: 'settled', outcome: 'ok', source: 'reported', charge: priceOf(MINI, 12, 4) });
    await expectLedgerAddsUp(store, sql, aliceId);
    expectAlive();
  }, 150_000);
}

if (!ON_POSTGRES) {
  // SQLite: a lock another process holds on the data file (a long write, a shell left in BEGIN).
  let fake: FakeUpstream;
  let srv: TestServer;

  /** A process that takes the write lock on `file` and keeps it until released; resolves once it holds it. */
  async function lockFromAnotherProcess(file: string): Promise<{ release(): Promise<void> }> {
    const marker = `${file}.locked`;
    fs.rmSync(marker, { force: true });
    const script = `
      const [file, marker] = process.argv.slice(1);
      const db = new (require('better-sqlite3'))(file);
      db.exec('BEGIN IMMEDIATE');
      require('node:fs').writeFileSync(marker, '');
      process.stdin.resume().on('end', () => { db.exec('ROLLBACK'); db.close(); });`;
    const child = spawn(process.execPath, ['-e', script, file, marker], { cwd: path.join(__dirname, '..'), stdio: ['pipe', 'ignore', 'inherit'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    expect(await eventually(async () => fs.existsSync(marker), 10_000)).toBe(true);
    return { release: async () => void (child.stdin!.end(), await exited) };
  }

  beforeAll(async () => {
    fake = await startFakeUpstream();
    srv = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, SIGNUP_BONUS: '2000' });
  });
  afterAll(async () => {
    await srv.close();
    await fake.close();
  });

  test('SQLite locked by another process past the busy timeout: the server goes on meanwhile, and a page write and a /v1 call answer 503 saying so', async () => {
    const agent = srv.agent();
    expect((await register(agent, 'locked')).status).toBe(303);
    const userId = (await srv.sql.value<number>('SELECT id FROM users WHERE username = ?', 'locked'))!;
    const { key } = await srv.database.write(createKey, userId, { name: 'locked', models: null, perDay: null, total: null, expiresAt: null }, generateKey());
    const keys = await agent.get('/keys');
    const lock = await lockFromAnotherProcess(appDbPath(srv.dataDir));
    try {
      const page = agent.post('/keys').type('form').send({ _csrf: csrfFrom(keys.text), name: 'made while locked' }).then((r) => r);
      // While the write waits for the lock, this process goes on: timers fire, /healthz answers.
      const tick = await timed(sleep(300));
      expect(tick.ms).toBeLessThan(800);
      const health = await timed(fetch(`${srv.url}/healthz`));
      expect(health.value.status).toBe(200); // reads go on beside a writer (WAL): the database answers
      expect(health.ms).toBeLessThan(1000);
      const refused = await timed(page);
      expect(refused.value.status).toBe(503);
      expect(refused.value.headers['retry-after']).toBe('5');
      expect(refused.value.text).toContain(OUTAGE_TEXT);
      expect(refused.ms).toBeGreaterThan(3000); // it did wait for the lock (5 s), then gave up

      const api = await fetch(`${srv.url}/v1/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: MINI.id, messages: [{ role: 'user', content: 'Hello?' }] }),
      });
      expect(api.status).toBe(503);
      expect(api.headers.get('x-should-retry')).toBe('true');
      expect((await api.json()).error).toMatchObject({ type: 'server_error', code: 'database_unavailable' });
    } finally {
      await lock.release();
    }
    expect(await srv.sql.value('SELECT count(*) FROM api_keys WHERE user_id = ?', userId)).toBe(1); // the refused key was not made
    expect((await agent.get('/keys')).status).toBe(200);
    await expectLedgerAddsUp(srv.database, srv.sql, userId);
  }, 60_000);
}
