import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import request from 'supertest';
import { loadConfig } from '../src/config';
import { createKey, generateKey } from '../src/accounts/api-keys';
import { verifyLedger } from '../src/ledger/verify';
import { createLogger } from '../src/log';
import { loadModels, priceOf } from '../src/metering/models';
import { startServer, type RunningServer } from '../src/server';
import { countTextSync } from '../src/metering/tokens';
import { gate, startFakeUpstream } from './fake-upstream';
import { csrfFrom, ON_POSTGRES, register, sqlOf, tempDir } from './helpers';
import { databaseFor, serve } from './spawned-server';

test('SIGTERM lets the request in flight finish, then closes the databases and exits 0', async () => {
  const dataDir = tempDir();
  const db = databaseFor(dataDir);
  const { child, port, logs } = await serve(dataDir, db.env);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const body = JSON.stringify({ username: 'nobody', password: 'whatever pw' });
  socket.write(`POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
  socket.write(body.slice(0, 5));
  await new Promise((resolve) => setTimeout(resolve, 100));
  child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 200));
  const response = new Promise<string>((resolve) => {
    let text = '';
    socket.setEncoding('utf8').on('data', (d: string) => (text += d)).on('close', () => resolve(text));
  });
  socket.write(body.slice(5));
  expect(await response).toMatch(/^HTTP\/1\.1 401 /);
  expect(await exited).toBe(0);
  const messages = logs.map((l) => (JSON.parse(l) as { msg: string }).msg);
  expect(messages).toContain('shutting down');
  expect(messages[messages.length - 1]).toBe('tokenchat stopped');
  if (ON_POSTGRES) {
    // The databases are the PostgreSQL schema (migrated, sessions table too); SESSION_SECRET
    // is configuration there, so the data directory holds neither database files nor a secret.
    const database = db.open();
    try {
      const sql = sqlOf(database);
      expect(await sql.value('SELECT count(*) FROM schema_migrations')).toBeGreaterThan(0);
      expect(await sql.value('SELECT count(*) FROM sessions')).toEqual(expect.any(Number));
    } finally {
      await database.close();
    }
    expect(fs.readdirSync(dataDir).filter((f) => f.endsWith('.sqlite') || f === 'session-secret')).toEqual([]);
  } else {
    // The data directory holds the databases and the generated secret.
    expect(fs.readdirSync(dataDir).sort()).toEqual(expect.arrayContaining(['session-secret', 'sessions.sqlite', 'tokenchat.sqlite']));
  }
  // Nothing logged a password.
  expect(logs.join('\n')).not.toContain('whatever pw');
  fs.rmSync(dataDir, { recursive: true, force: true });
  await db.drop();
});

test('SIGHUP reloads the models file; a bad file is refused, named in the log, and the server goes on', async () => {
  const dataDir = tempDir();
  const db = databaseFor(dataDir);
  const file = path.join(dataDir, 'models.json');
  const write = (baseUrl: string) =>
    fs.writeFileSync(file, JSON.stringify({
      version: 1, providers: [{ id: 'local', base_url: baseUrl }],
      models: [{ id: 'm1', name: 'M1', encoding: 'o200k_base', context_window: 8000, prompt_rate: 1, completion_rate: 1, providers: ['local'] }],
    }));
  write('http://127.0.0.1:9/v1');
  const { child, port, logs } = await serve(dataDir, { ...db.env, MODELS_FILE: file });
  const logged = (msg: string) => logs.some((line) => (JSON.parse(line) as { msg: string }).msg === msg);
  const until = async (msg: string) => {
    for (let i = 0; i < 200 && !logged(msg); i++) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(logged(msg)).toBe(true);
  };
  try {
    write('http://127.0.0.1:10/v1'); // the provider moved: no price changed, so no adoption is needed
    child.kill('SIGHUP');
    await until('models file reloaded');
    fs.writeFileSync(file, '{ "version": 1, "models": [');
    child.kill('SIGHUP');
    await until('the models file was not reloaded; the server goes on as it was');
    expect(logs.find((line) => line.includes('not reloaded'))).toContain(file);
    expect((await request(`http://127.0.0.1:${port}`).get('/healthz')).status).toBe(200);
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    await db.drop();
  }
});

test('two servers starting on one data directory at once agree on one secret and migrate once', async () => {
  const dataDir = tempDir();
  const db = databaseFor(dataDir);
  const [a, b] = await Promise.all([serve(dataDir, db.env), serve(dataDir, db.env)]);
  // On PostgreSQL the secret is SESSION_SECRET, the same for both by configuration: no file to agree on.
  if (!ON_POSTGRES) {
    const secret = fs.readFileSync(path.join(dataDir, 'session-secret'), 'utf8');
    expect(secret.length).toBeGreaterThanOrEqual(32);
  }
  const applied = [...a.logs, ...b.logs].filter((l) => l.includes('migrations applied'));
  expect(applied).toHaveLength(1);
  for (const { child } of [a, b]) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
  await db.drop();
});

// ---- answers streaming at shutdown -----------------------------------------------------------------

const MINI = loadModels().find('gpt-4o-mini')!;
const hiddenValue = (html: string, id: string) => new RegExp(`id="${id}" name="[^"]+" value="([^"]*)"`).exec(html)?.[1];

/** A server on a data directory the test keeps after close(), a user, and a turn sent as htmx sends it. */
async function serveWithTurn(upstreamUrl: string, shutdownTimeoutMs: number) {
  const dataDir = tempDir();
  const db = databaseFor(dataDir);
  const config = loadConfig({
    DATA_DIR: dataDir, PORT: '0', NODE_ENV: 'test', LOG_LEVEL: 'silent', OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: upstreamUrl,
    SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs), SIGNUP_BONUS: '2000', ...db.env,
  });
  const srv: RunningServer = await startServer(config, createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'));
  const agent = request.agent(srv.url);
  expect((await register(agent, 'streamer')).status).toBe(303);
  const page = await agent.get('/');
  const fields = {
    _csrf: csrfFrom(page.text), turn_key: hiddenValue(page.text, 'turn-key')!, conversation_id: '',
    message: 'What is a token?', system: '', model: MINI.id, temperature: '', max_tokens: '',
  };
  // Not awaited: supertest sends when .then is called, and the answer streams until the server ends it.
  const answer = agent.post('/send').type('form').set('HX-Request', 'true').set('Accept', 'text/html, text/event-stream').send(fields)
    .then((res) => ({ status: res.status, text: res.text }), (err: Error) => ({ status: 0, text: `${err.message}` })); // 0: cut off
  const sql = sqlOf(srv.database);
  const hold = () => sql.get<{ delivered: number; state: string }>('SELECT * FROM holds');
  return { dataDir, db, srv, answer, hold };
}

/** What the database holds once the server is gone, read through a new connection. */
async function afterwards(dataDir: string, db: ReturnType<typeof databaseFor>) {
  const database = db.open();
  try {
    const sql = sqlOf(database);
    return {
      holds: await sql.all('SELECT * FROM holds ORDER BY id'),
      balance: (await sql.value<number>('SELECT balance FROM balances'))!,
      messages: await sql.all(`SELECT * FROM messages WHERE role = 'assistant' ORDER BY id`),
      violations: await database.read(verifyLedger, 60_000),
    };
  } finally {
    await database.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    await db.drop();
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400 && !(await check()); i++) await pause(10);
  if (!(await check())) throw new Error(`gave up waiting for ${what}`);
}

describe('close() with an answer streaming', () => {
  const fakeUpstream = startFakeUpstream();
  afterAll(async () => (await fakeUpstream).close());

  test('an answer still streaming at the drain deadline is stopped and settled (prompt + delivered) before the database closes', async () => {
    const fake = await fakeUpstream;
    const g = gate(); // never released: the model goes silent mid-answer
    fake.script({ kind: 'stream', pieces: ['One', ' two', ' three'], gate: g, gateAfter: 1 });
    const { dataDir, db, srv, answer, hold } = await serveWithTurn(fake.url, 300);
    await g.reached;
    await until('the first piece recorded on the hold', async () => ((await hold())?.delivered ?? 0) > 0);

    await srv.close();

    const after = await afterwards(dataDir, db);
    const charge = priceOf(MINI, after.holds[0].prompt_tokens, countTextSync('One', MINI.encoding));
    expect(after.holds).toEqual([expect.objectContaining({ state: 'settled', charge, outcome: 'stopped', source: 'estimated' })]);
    expect(after.balance).toBe(2000 - charge);
    expect(after.messages).toEqual([expect.objectContaining({ content: 'One', status: 'stopped', charge })]);
    expect(after.violations).toEqual([]);
    // The user saw the answer end as a Stop does, not a cut connection.
    const res = await answer;
    expect(res.status).toBe(200);
    expect(res.text).toContain('Stopped.');
  });

  test('a /v1 call still streaming at the drain deadline is settled (prompt + delivered) before the database closes', async () => {
    const fake = await fakeUpstream;
    const dataDir = tempDir();
    const db = databaseFor(dataDir);
    const config = loadConfig({
      DATA_DIR: dataDir, PORT: '0', NODE_ENV: 'test', LOG_LEVEL: 'silent', OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url,
      SHUTDOWN_TIMEOUT_MS: '300', SIGNUP_BONUS: '2000', ...db.env,
    });
    const srv = await startServer(config, createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'));
    expect((await register(request.agent(srv.url), 'apistreamer')).status).toBe(303);
    const userId = (await sqlOf(srv.database).value<number>('SELECT id FROM users'))!;
    const { key } = await srv.database.write(createKey, userId, { name: 'k', models: null, perDay: null, total: null, expiresAt: null }, generateKey());
    const g = gate(); // never released: the model goes silent mid-answer
    fake.script({ kind: 'stream', pieces: ['One', ' two', ' three'], gate: g, gateAfter: 1 });
    const body = JSON.stringify({ model: MINI.id, messages: [{ role: 'user', content: 'What is a token?' }], stream: true });
    const answer = fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body })
      .then((res) => res.text()).catch((err: Error) => err.message);
    await g.reached;
    await until('the first piece recorded on the hold', async () => ((await sqlOf(srv.database).get<{ delivered: number }>('SELECT delivered FROM holds'))?.delivered ?? 0) > 0);

    await srv.close();

    const after = await afterwards(dataDir, db);
    const charge = priceOf(MINI, after.holds[0].prompt_tokens, countTextSync('One', MINI.encoding));
    expect(after.holds).toEqual([expect.objectContaining({ state: 'settled', charge, outcome: 'stopped', source: 'estimated' })]);
    expect(after.balance).toBe(2000 - charge);
    expect(after.violations).toEqual([]);
    await answer;
  });

  test('an answer that ends before the drain deadline finishes normally, then the server closes', async () => {
    const fake = await fakeUpstream;
    const g = gate();
    fake.script({ kind: 'stream', pieces: ['One', ' two'], gate: g, gateAfter: 1, usage: { prompt_tokens: 9, completion_tokens: 2 } });
    const { dataDir, db, srv, answer, hold } = await serveWithTurn(fake.url, 10_000);
    await g.reached;
    await until('the first piece recorded on the hold', async () => ((await hold())?.delivered ?? 0) > 0);

    const closed = srv.close();
    await pause(100); // shutdown has begun and is waiting for the answer
    g.release();
    await closed;

    const res = await answer;
    expect(res.status).toBe(200);
    const after = await afterwards(dataDir, db);
    const charge = priceOf(MINI, 9, 2);
    expect(after.holds).toEqual([expect.objectContaining({ state: 'settled', charge, outcome: 'ok', source: 'reported' })]);
    expect(after.balance).toBe(2000 - charge);
    expect(after.messages).toEqual([expect.objectContaining({ content: 'One two', status: 'done', charge })]);
    expect(after.violations).toEqual([]);
  });
});
