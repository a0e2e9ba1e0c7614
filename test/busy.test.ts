// Two processes on one data directory: while another connection holds SQLite's write lock, a chat
// turn waits for it (the busy timeout) instead of failing with "database is locked". The lock is
// held by a child process, because better-sqlite3 blocks this process's event loop while it waits.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { appDbPath } from '../src/db';
import { loadModels, priceOf } from '../src/metering/models';
import { liveHolds } from '../src/chat/turn';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { csrfFrom, register, startTestServer, type Agent, type TestServer } from './helpers';

const MINI = loadModels().find('gpt-4o-mini')!;
const HOLD_MS = 300;
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Starts a process that takes the write lock on `file` (BEGIN IMMEDIATE), keeps it `ms`, then
 * commits. Returns, synchronously, once it holds the lock (it says so by writing `file.locked`),
 * so it can be called from inside the server at the exact moment a test needs.
 */
function lockFromAnotherProcess(file: string, ms: number): Promise<number | null> {
  const marker = `${file}.locked`;
  fs.rmSync(marker, { force: true });
  const script = `
    const [file, marker, ms] = process.argv.slice(1);
    const db = new (require('better-sqlite3'))(file);
    db.exec('BEGIN IMMEDIATE');
    require('node:fs').writeFileSync(marker, '');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(ms));
    db.exec('COMMIT');
    db.close();`;
  const child = spawn(process.execPath, ['-e', script, file, marker, String(ms)], { cwd: path.join(__dirname, '..'), stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  for (const giveUp = Date.now() + 10_000; !fs.existsSync(marker); sleep(5)) {
    if (Date.now() > giveUp) throw new Error('the other process never took the lock');
  }
  return exited;
}

let fake: FakeUpstream;
let srv: TestServer;
beforeAll(async () => {
  fake = await startFakeUpstream();
  srv = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, SIGNUP_BONUS: '2000' });
});
afterAll(async () => {
  await srv.close();
  await fake.close();
});

let seq = 0;
/** A new user and the composer's fields for a new chat. */
async function newUser(): Promise<{ agent: Agent; id: number; fields: Record<string, string> }> {
  const agent = srv.agent();
  const name = `patient${++seq}`;
  expect((await register(agent, name)).status).toBe(303);
  const id = (await srv.sql.value<number>('SELECT id FROM users WHERE username = ?', name))!;
  const page = await agent.get('/');
  const hidden = (field: string) => new RegExp(`id="${field}" name="[^"]+" value="([^"]*)"`).exec(page.text)![1]!;
  const fields = {
    _csrf: csrfFrom(page.text), turn_key: hidden('turn-key'), conversation_id: '',
    message: 'What is a token?', system: '', model: MINI.id, temperature: '', max_tokens: '',
  };
  return { agent, id, fields };
}

const send = (agent: Agent, fields: Record<string, string>) =>
  agent.post('/send').type('form').set('HX-Request', 'true').set('Accept', 'text/html, text/event-stream').send(fields);

/** The turn was answered, and charged exactly the reported usage. */
async function expectCharged(userId: number) {
  const charge = priceOf(MINI, 10, 3);
  const { sql } = srv;
  expect(await sql.all('SELECT state, charge, outcome FROM holds WHERE user_id = ?', userId)).toEqual([{ state: 'settled', charge, outcome: 'ok' }]);
  expect(await sql.value('SELECT balance FROM balances WHERE user_id = ?', userId)).toBe(2000 - charge);
  expect((await sql.all<{ kind: string }>('SELECT kind FROM ledger WHERE user_id = ? ORDER BY id', userId)).map((r) => r.kind)).toEqual(['signup_bonus', 'reserve', 'settle']);
}

test('POST /send — while another process holds the write lock as the turn starts, the turn waits for it and is charged', async () => {
  const user = await newUser();
  fake.script({ kind: 'stream', pieces: ['Worth', ' the', ' wait'], usage: { prompt_tokens: 10, completion_tokens: 3 } });

  const released = lockFromAnotherProcess(appDbPath(srv.dataDir), HOLD_MS);
  const started = Date.now();
  const res = await send(user.agent, user.fields);

  expect(await released).toBe(0);
  expect(Date.now() - started).toBeGreaterThanOrEqual(HOLD_MS - 50); // it did meet the lock
  expect(res.status).toBe(200);
  expect(res.text).toContain('Worth the wait');
  await expectCharged(user.id);
});

test('POST /send — the lock taken between the reserve and storing the turn (the reported 500) is waited for too', async () => {
  const user = await newUser();
  fake.script({ kind: 'stream', pieces: ['Worth', ' the', ' wait'], usage: { prompt_tokens: 10, completion_tokens: 3 } });
  // The hold is marked live right after the reserve commits and just before the turn is stored
  // (it read the conversation, then wrote, in a deferred transaction that failed at once when locked).
  const add = liveHolds.add.bind(liveHolds);
  let released: Promise<number | null> | undefined;
  liveHolds.add = (holdId: number) => {
    released ??= lockFromAnotherProcess(appDbPath(srv.dataDir), HOLD_MS);
    return add(holdId);
  };
  let res;
  try {
    res = await send(user.agent, user.fields);
  } finally {
    liveHolds.add = add;
  }

  expect(released).toBeDefined();
  expect(await released).toBe(0);
  expect(res.status).toBe(200);
  expect(res.text).toContain('Worth the wait');
  await expectCharged(user.id);
});
