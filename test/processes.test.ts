// Three server processes on one database (PostgreSQL under `npm run test:pg`, one SQLite data
// directory under `npm test`), one user, as a load balancer would spread them: a session made on
// one works on the others, 60 turns at once never overspend, one code redeemed at once on three
// processes pays once, and (PostgreSQL) Stop pressed on one process ends the answer another streams.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { createKey, generateKey } from '../src/accounts/api-keys';
import { createCodes } from '../src/ledger/codes';
import { openStore, type AppStore } from '../src/db';
import { verifyLedger } from '../src/ledger/verify';
import { loadModels, priceOf } from '../src/metering/models';
import { countTextSync } from '../src/metering/tokens';
import { gate, startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { csrfFrom, ON_POSTGRES, sqlOf, tempDir, type Sql } from './helpers';
import { dropSchema, newSchema, testDatabaseUrl } from './db-under-test';

const CLI = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
const SECRET = 'processes-test-secret-processes-test-secret';

let fake: FakeUpstream;
let dataDir: string;
let schema: string | undefined;
let servers: Array<{ url: string; child: ChildProcess }> = [];
let store: AppStore;
let sql: Sql;
let serverEnv: Record<string, string>;

/** Starts `tokenchat serve` and resolves with its URL once it listens. */
function serve(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [CLI, 'serve'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'tokenchat listening' && entry.url) resolve({ url: entry.url, child });
      } catch {
        // not a log line
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code} before listening`)));
  });
}

beforeAll(async () => {
  fake = await startFakeUpstream();
  dataDir = tempDir();
  schema = ON_POSTGRES ? newSchema() : undefined;
  serverEnv = {
    NODE_ENV: 'test', PORT: '0', LOG_LEVEL: 'info', DATA_DIR: dataDir, SESSION_SECRET: SECRET, OPENAI_API_KEY: 'sk-test',
    OPENAI_BASE_URL: fake.url, SIGNUP_BONUS: '3000', TURNS_PER_USER: '100', UPSTREAM_CONCURRENCY: '200', QUEUE_MAX_WAITING: '500',
    LOGIN_RATE_LIMIT_PER_IP: '10000', LOGIN_RATE_LIMIT_PER_USER: '3', LOGIN_DELAY_MS: '1500', HASH_CONCURRENCY: '2', SHUTDOWN_TIMEOUT_MS: '2000',
    ...(schema && { DATABASE_URL: testDatabaseUrl(), DATABASE_SCHEMA: schema }),
  };
  // Three at once: migrations are applied once (an advisory lock, or SQLite's write lock).
  servers = await Promise.all([serve(serverEnv), serve(serverEnv), serve(serverEnv)]);
  store = openStore({ dataDir, databaseUrl: serverEnv.DATABASE_URL, databasePoolSize: 2, sessionIdleMs: 60_000 }, schema);
  sql = sqlOf(store);
}, 60_000);

afterAll(async () => {
  await store?.close();
  await Promise.all(servers.map(({ child }) => new Promise((resolve) => (child.once('exit', resolve), child.kill('SIGTERM')))));
  await fake.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  if (schema) await dropSchema(schema);
}, 60_000);

/** A browser: its cookies, sent to whichever process it asks. */
class Browser {
  private readonly cookies = new Map<string, string>();

  private keep(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
  }

  get cookie(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async get(url: string): Promise<{ status: number; text: string }> {
    const res = await fetch(url, { headers: { cookie: this.cookie }, redirect: 'manual' });
    this.keep(res);
    return { status: res.status, text: await res.text() };
  }

  async post(url: string, form: Record<string, string>, htmx = false): Promise<{ status: number; text: string }> {
    const res = await fetch(url, {
      method: 'POST', redirect: 'manual', body: new URLSearchParams(form),
      headers: { cookie: this.cookie, 'content-type': 'application/x-www-form-urlencoded', ...(htmx && { 'hx-request': 'true', accept: 'text/html, text/event-stream' }) },
    });
    this.keep(res);
    return { status: res.status, text: await res.text() };
  }
}

const fieldOf = (html: string, id: string) => new RegExp(`id="${id}" name="[^"]+" value="([^"]*)"`).exec(html)?.[1] ?? '';

async function composer(browser: Browser, url: string, message: string, maxTokens = ''): Promise<Record<string, string>> {
  const page = await browser.get(`${url}/`);
  return { _csrf: csrfFrom(page.text), turn_key: fieldOf(page.text, 'turn-key'), conversation_id: '', message, system: '', model: 'gpt-4o-mini', temperature: '', max_tokens: maxTokens };
}

let alice: Browser;
let aliceId: number;

test('a session made on one process works on the others', async () => {
  alice = new Browser();
  const [a, b, c] = servers.map((s) => s.url);
  const form = await alice.get(`${a}/register`);
  const created = await alice.post(`${a}/register`, { _csrf: csrfFrom(form.text), username: 'alice', password: 'correct horse battery', confirm: 'correct horse battery' });
  expect(created.status).toBe(303);
  for (const url of [b, c]) {
    const page = await alice.get(`${url}/usage`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('alice');
  }
  aliceId = (await sql.value('SELECT id FROM users WHERE username = ?', 'alice')) as number;
});

test('60 turns at once spread over three processes never overspend; the ledger and the CSV add up', async () => {
  // The fake's default answer for each (nothing scripted is left over for the next test, whatever is refused).
  const sends = await Promise.all(Array.from({ length: 60 }, (_, i) => composer(alice, servers[i % 3]!.url, `Question ${i}`, '50')));
  const answers = await Promise.all(sends.map((form, i) => alice.post(`${servers[i % 3]!.url}/send`, form, true)));
  expect(answers.every((r) => r.status === 200 || r.status === 402)).toBe(true);
  expect(answers.filter((r) => r.status === 200).length).toBeGreaterThan(0);
  const balance = (await sql.value('SELECT balance FROM balances WHERE user_id = ?', aliceId)) as number;
  expect(balance).toBeGreaterThanOrEqual(0);
  expect(await sql.value("SELECT count(*) FROM holds WHERE user_id = ? AND state = 'held'", aliceId)).toBe(0);
  const charged = (await sql.value('SELECT coalesce(sum(charge), 0) FROM holds WHERE user_id = ?', aliceId)) as number;
  expect(balance + charged).toBe(3000);
  expect(await store.read(verifyLedger, 3_600_000)).toEqual([]);
  // The downloaded ledger ends at the balance.
  const csv = await alice.get(`${servers[1]!.url}/usage/ledger.csv`);
  expect(csv.status).toBe(200);
  const rows = csv.text.trim().split(/\r?\n/).slice(1);
  expect(rows.length).toBe(await sql.value('SELECT count(*) FROM ledger WHERE user_id = ?', aliceId));
});

test('failed sign-ins count across processes: three wrong passwords, one on each, slow the next new device down', async () => {
  for (const { url } of servers) {
    const stranger = new Browser();
    const form = await stranger.get(`${url}/login`);
    expect((await stranger.post(`${url}/login`, { _csrf: csrfFrom(form.text), username: 'alice', password: 'wrong password!' })).status).toBe(401);
  }
  const newDevice = new Browser();
  const form = await newDevice.get(`${servers[0]!.url}/login`);
  const started = Date.now();
  const signedIn = await newDevice.post(`${servers[0]!.url}/login`, { _csrf: csrfFrom(form.text), username: 'alice', password: 'correct horse battery' });
  expect(signedIn.status).toBe(303); // never a lock: the right password still gets in
  expect(Date.now() - started).toBeGreaterThanOrEqual(1400); // after the delay the three failures earned, together
});

test('an API key revoked through one process fails at once on the others', async () => {
  const { key, id } = await store.write(createKey, aliceId, { name: 'everywhere', models: null, perDay: null, total: null, expiresAt: null }, generateKey());
  const models = (url: string) => fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
  for (const { url } of servers) expect((await models(url)).status).toBe(200);
  // Revoked on the keys page of the first process...
  const page = await alice.get(`${servers[0]!.url}/keys`);
  expect((await alice.post(`${servers[0]!.url}/keys/${id}/revoke`, { _csrf: csrfFrom(page.text), confirm: '1' })).status).toBe(303);
  // ...the next call on every process is refused.
  for (const { url } of servers) expect((await models(url)).status).toBe(401);
});

test('one code redeemed at once on three processes pays once', async () => {
  const [code] = await createCodes(store, { tokens: 777, count: 1 });
  const before = (await sql.value('SELECT balance FROM balances WHERE user_id = ?', aliceId)) as number;
  const forms = await Promise.all(servers.map(async ({ url }) => ({ url, _csrf: csrfFrom((await alice.get(`${url}/recharge`)).text) })));
  const results = await Promise.all(forms.map(({ url, _csrf }) => alice.post(`${url}/recharge`, { _csrf, code: code! })));
  expect(results.filter((r) => r.status === 200).length).toBe(1);
  expect(await sql.value('SELECT balance FROM balances WHERE user_id = ?', aliceId)).toBe(before + 777);
});

test('a process killed mid-answer: the next message in that conversation goes on at once, the dead answer closed by the stop rule', async () => {
  const g = gate();
  fake.script({ kind: 'stream', pieces: ['Abandoned', ' answer'], gate: g, gateAfter: 1 });
  const victim = await serve(serverEnv);
  const form = await composer(alice, victim.url, 'Will you finish?');
  const answer = alice.post(`${victim.url}/send`, form, true).catch(() => 'cut off');
  await g.reached;
  const hold = () => sql.get("SELECT id, state, outcome, charge, prompt_tokens, delivered FROM holds WHERE user_id = ? AND turn_key = ?", aliceId, form.turn_key);
  for (let i = 0; i < 200 && (await hold())?.delivered === 0; i++) await new Promise((r) => setTimeout(r, 10)); // the first piece is recorded at once
  victim.child.kill('SIGKILL');
  await new Promise((resolve) => victim.child.once('exit', resolve));
  await answer;
  g.release();
  const conversation = (await sql.value("SELECT conversation_id FROM messages WHERE hold_id = ?", (await hold()).id)) as number;
  // At once, on another process: not "an answer is still being written" for a minute and more.
  const [survivor] = servers;
  const next = { ...(await composer(alice, survivor!.url, 'Are you there now?')), conversation_id: String(conversation) };
  const sent = await alice.post(`${survivor!.url}/send`, next, true);
  expect(sent.status).toBe(200);
  expect(sent.text).toContain('Hello from the fake upstream.');
  const delivered = countTextSync('Abandoned', 'o200k_base');
  const closed = await hold();
  expect(closed).toMatchObject({ state: 'settled', outcome: 'recovered', delivered, charge: priceOf(loadModels().find('gpt-4o-mini')!, closed.prompt_tokens, delivered) });
  const messages = await sql.all("SELECT role, status, content FROM messages WHERE conversation_id = ? ORDER BY id", conversation);
  expect(messages.map((m) => [m.role, m.status])).toEqual([['user', 'done'], ['assistant', 'stopped'], ['user', 'done'], ['assistant', 'done']]);
  expect(messages[1]!.content).toContain('Abandoned');
  expect(await store.read(verifyLedger, 3_600_000)).toEqual([]);
}, 60_000);

if (ON_POSTGRES) {
  // Stop reaches another process through LISTEN/NOTIFY; SQLite's processes share no channel.
  test('Stop pressed on one process ends the answer another is streaming, charged like Stop', async () => {
    const g = gate();
    fake.script({ kind: 'stream', pieces: ['Alpha', ' beta', ' gamma'], gate: g, gateAfter: 1 });
    const [a, b] = servers.map((s) => s.url);
    const form = await composer(alice, a!, 'Tell me a long story');
    let text = '';
    const done = new Promise<void>((resolve) => {
      const req = http.request(`${a}/send`, {
        method: 'POST', headers: { cookie: alice.cookie, 'content-type': 'application/x-www-form-urlencoded', 'hx-request': 'true', accept: 'text/html, text/event-stream' },
      }, (res) => {
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', resolve);
      });
      req.end(new URLSearchParams(form).toString());
    });
    await g.reached;
    for (let i = 0; i < 200 && !/id="conversation-id" name="[^"]+" value="\d+"/.test(text); i++) await new Promise((r) => setTimeout(r, 10));
    const conversationId = fieldOf(text, 'conversation-id');
    const page = await alice.get(`${b}/`);
    const stop = await alice.post(`${b}/stop`, { _csrf: csrfFrom(page.text), conversation_id: conversationId }, true);
    expect(stop.status).toBe(204);
    await done;
    expect(await fake.requests.at(-1)!.closed).toBe(true);
    g.release();
    const hold = await sql.get("SELECT state, outcome FROM holds WHERE user_id = ? ORDER BY id DESC LIMIT 1", aliceId);
    expect(hold).toEqual({ state: 'settled', outcome: 'stopped' });
    expect(text).toContain('Stopped.');
  });

  test('a process whose models file differs refuses to start, naming it, until the new file is adopted', async () => {
    // A file that differs only in names (or providers) charges the same: no adoption needed.
    const renamed = path.join(dataDir, 'models-renamed.json');
    const same = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'models.json'), 'utf8'));
    same.models[1].name = 'Another name for the same prices';
    fs.writeFileSync(renamed, JSON.stringify(same));
    const sameProcess = await serve({ ...serverEnv, MODELS_FILE: renamed });
    servers.push(sameProcess);
    expect((await fetch(`${sameProcess.url}/healthz`)).status).toBe(200);
    const file = path.join(dataDir, 'models-changed.json');
    const models = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'models.json'), 'utf8'));
    models.models[1].completion_rate = 5; // a price change on one host only
    fs.writeFileSync(file, JSON.stringify(models));
    const env = { ...process.env, ...serverEnv, MODELS_FILE: file };
    const refused = spawnSync(process.execPath, [CLI, 'serve'], { env, encoding: 'utf8', timeout: 30_000 });
    expect(refused.status).toBe(1);
    expect(refused.stdout + refused.stderr).toContain(`MODELS_FILE ${file} prices the models differently from the models file the other servers on this database use`);
    const adopted = spawnSync(process.execPath, [CLI, 'models', 'adopt'], { env, encoding: 'utf8', timeout: 30_000 });
    expect(adopted.stdout).toContain('adopted');
    expect(adopted.status).toBe(0);
    const started = await serve({ ...serverEnv, MODELS_FILE: file });
    servers.push(started); // stopped with the others
    expect((await fetch(`${started.url}/healthz`)).status).toBe(200);
  }, 60_000);

  test('a process killed mid-answer: another resolves its hold by the stop rule within about a minute', async () => {
    const g = gate();
    fake.script({ kind: 'stream', pieces: ['Doomed', ' answer'], gate: g, gateAfter: 1 });
    const victim = servers[2]!;
    const form = await composer(alice, victim.url, 'Are you still there?');
    const answer = fetch(`${victim.url}/send`, {
      method: 'POST', body: new URLSearchParams(form),
      headers: { cookie: alice.cookie, 'content-type': 'application/x-www-form-urlencoded', 'hx-request': 'true', accept: 'text/html, text/event-stream' },
    }).then((res) => res.text()).catch(() => 'cut off');
    await g.reached;
    const open = async () => sql.get("SELECT id, state, outcome, charge, prompt_tokens, delivered FROM holds WHERE user_id = ? ORDER BY id DESC LIMIT 1", aliceId);
    for (let i = 0; i < 200 && (await open())?.delivered === 0; i++) await new Promise((r) => setTimeout(r, 10)); // the first piece is recorded at once
    servers = servers.filter((s) => s !== victim);
    victim.child.kill('SIGKILL');
    await answer;
    const killedAt = Date.now();
    let hold = await open();
    while (hold.state === 'held' && Date.now() - killedAt < 110_000) {
      await new Promise((r) => setTimeout(r, 1000));
      hold = await open();
    }
    g.release();
    const delivered = countTextSync('Doomed', 'o200k_base');
    expect(hold).toMatchObject({ state: 'settled', outcome: 'recovered', delivered, charge: priceOf(loadModels().find('gpt-4o-mini')!, hold.prompt_tokens, delivered) });
    expect(Date.now() - killedAt).toBeLessThan(90_000); // HOLD_RECOVERY_MINUTES (1) plus a heartbeat
    expect(await store.read(verifyLedger, 3_600_000)).toEqual([]);
  }, 130_000);
}
