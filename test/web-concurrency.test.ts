// `tokenchat serve` with WEB_CONCURRENCY=2 (node:cluster), on SQLite and on PostgreSQL: two worker
// processes answer on one port, a call is charged once, a worker that dies is replaced, SIGTERM
// stops them all with no hold left open, and a start-up or a crash loop that fails ends with exit 1.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { createKey, generateKey } from '../src/accounts/api-keys';
import { PasswordHasher } from '../src/accounts/passwords';
import { createUser } from '../src/accounts/users';
import { verifyLedger } from '../src/ledger/verify';
import { loadModels, priceOf } from '../src/metering/models';
import { gate, startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { sqlOf, tempDir } from './helpers';
import { databaseFor, serve, terminate, type Spawned } from './spawned-server';

const MINI = loadModels().find('gpt-4o-mini')!;

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.close());

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  for (const by = Date.now() + ms; Date.now() < by;) {
    if (await check()) return;
    await pause(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const entries = (srv: Spawned) => srv.logs.map((line) => JSON.parse(line) as { msg: string; pid: number; req?: { url: string } });

/** The server's processes other than the primary: its children, from ps. */
function childrenOf(pid: number): number[] {
  const out = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).stdout;
  return out.split('\n').map((s) => Number(s.trim())).filter(Boolean).sort();
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** A GET on a connection of its own (no keep-alive), so each may go to either worker. */
function getAlone(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      res.resume().once('end', () => resolve(res.statusCode!));
    }).once('error', reject);
  });
}

/** The pids whose request log shows they answered `path`. */
const answeredBy = (srv: Spawned, path: string) => new Set(entries(srv).filter((e) => e.req?.url === path).map((e) => e.pid));

function serveTwo(dataDir: string, db: ReturnType<typeof databaseFor>, env: Record<string, string> = {}) {
  return serve(dataDir, {
    ...db.env, NODE_ENV: 'test', WEB_CONCURRENCY: '2', OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url,
    SIGNUP_BONUS: '2000', SHUTDOWN_TIMEOUT_MS: '1000', ...env,
  });
}

test('WEB_CONCURRENCY=2: two workers answer on one port, a call is charged once, a killed worker is replaced, SIGTERM stops them all with no hold left open', async () => {
  const dataDir = tempDir();
  const db = databaseFor(dataDir);
  const srv = await serveTwo(dataDir, db);
  const database = db.open();
  try {
    const primary = srv.child.pid!;
    await until('both workers listening', () => entries(srv).filter((e) => e.msg === 'worker listening').length === 2);
    const workers = entries(srv).filter((e) => e.msg === 'worker listening').map((e) => e.pid).sort();
    expect(childrenOf(primary)).toEqual(workers);
    expect(entries(srv).filter((e) => e.msg === 'tokenchat listening')).toEqual([expect.objectContaining({ pid: primary, url: srv.url })]);

    // Connections of their own are shared out between the two.
    for (let i = 0; i < 6; i++) expect(await getAlone(`${srv.url}/healthz?first`)).toBe(200);
    await until('the request log of both', () => answeredBy(srv, '/healthz?first').size === 2);
    expect([...answeredBy(srv, '/healthz?first')].sort()).toEqual(workers);

    // A call through either is reserved and settled once, to what the model reported.
    const user = await createUser(database, new PasswordHasher(1, 0), { username: 'clustered', password: 'correct horse battery', role: 'user' }, { signupBonus: 2000 });
    const { key } = await database.write(createKey, user.id, { name: 'k', models: null, perDay: null, total: null, expiresAt: null }, generateKey());
    const call = () => fetch(`${srv.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MINI.id, messages: [{ role: 'user', content: 'What is a token?' }], stream: true, stream_options: { include_usage: true } }),
    });
    const res = await call();
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('[DONE]');
    const sql = sqlOf(database);
    const charge = priceOf(MINI, 11, 6);
    expect(await sql.all('SELECT state, charge FROM holds')).toEqual([{ state: 'settled', charge }]);
    expect(await sql.value('SELECT balance FROM balances WHERE user_id = ?', user.id)).toBe(2000 - charge);

    // A worker killed outright is replaced, and the server goes on answering.
    process.kill(workers[0]!, 'SIGKILL');
    await until('a third worker listening', () => entries(srv).filter((e) => e.msg === 'worker listening').length === 3);
    const replacement = entries(srv).filter((e) => e.msg === 'worker listening')[2]!.pid;
    expect(alive(workers[0]!)).toBe(false);
    expect(childrenOf(primary)).toEqual([workers[1]!, replacement].sort());
    for (let i = 0; i < 6; i++) expect(await getAlone(`${srv.url}/healthz?second`)).toBe(200);
    await until('the request log of both', () => answeredBy(srv, '/healthz?second').size === 2);
    expect(answeredBy(srv, '/healthz?second')).toEqual(new Set([workers[1]!, replacement]));

    // SIGTERM with a call still streaming: the workers stop it, settle it, and exit; then the primary.
    const g = gate(); // never released
    fake.script({ kind: 'stream', pieces: ['One', ' two'], gate: g, gateAfter: 1 });
    const streaming = call().then((r) => r.text()).catch(() => '');
    await g.reached;
    await until('the first piece recorded on the hold', async () => ((await sql.value<number>("SELECT delivered FROM holds WHERE state = 'held'")) ?? 0) > 0);
    const exit = await terminate(srv, 30_000);
    expect(exit?.code).toBe(0);
    expect([workers[1]!, replacement].filter(alive)).toEqual([]);
    await streaming;
    expect(await sql.value("SELECT count(*) FROM holds WHERE state = 'held'")).toBe(0);
    expect(await sql.all("SELECT outcome FROM holds ORDER BY id")).toEqual([{ outcome: 'ok' }, { outcome: 'stopped' }]);
    expect(await database.read(verifyLedger, 60_000)).toEqual([]);
  } finally {
    if (srv.child.exitCode === null) srv.child.kill('SIGKILL');
    await database.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    await db.drop();
  }
}, 60_000);

test('WEB_CONCURRENCY=2 on a port already taken: the primary exits 1, naming a worker that failed to start', async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const dataDir = tempDir();
  const db = databaseFor(dataDir);
  try {
    const port = String((taken.address() as net.AddressInfo).port);
    await expect(serveTwo(dataDir, db, { PORT: port })).rejects.toThrow(/exited early with 1:[\s\S]*EADDRINUSE[\s\S]*tokenchat: a worker process exited with code 1 while starting/);
  } finally {
    taken.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    await db.drop();
  }
}, 30_000);

test('workers that keep dying: the primary stops starting more and exits 1, naming the crash loop', async () => {
  const dataDir = tempDir();
  const db = databaseFor(dataDir);
  const srv = await serveTwo(dataDir, db);
  try {
    const primary = srv.child.pid!;
    let exited = false;
    void srv.exited.then(() => (exited = true));
    for (let kills = 0; kills < 5 && !exited; kills++) {
      await until('a worker to kill', () => exited || childrenOf(primary).length > 0);
      for (const pid of childrenOf(primary).slice(0, 1)) process.kill(pid, 'SIGKILL');
      await until('the primary to hear of it', () => exited || entries(srv).filter((e) => e.msg === 'a worker process exited; starting another').length > kills || kills === 4);
    }
    const { code } = await srv.exited;
    expect(code).toBe(1);
    expect(srv.stderr()).toMatch(/tokenchat: worker processes exited 5 times within 30 s, the last with signal SIGKILL; not starting more/);
  } finally {
    if (srv.child.exitCode === null) srv.child.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
    await db.drop();
  }
}, 60_000);
