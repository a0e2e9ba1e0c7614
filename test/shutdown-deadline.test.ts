// SHUTDOWN_TIMEOUT_MS is when the process goes, whatever runs: a /v1 stream, a page answer, both,
// or a log reader that stopped reading. The real server in its own process (dist/cli/main.js;
// `npm run build` first), a slow model API, SIGTERM, then what the clients got and what the
// database holds once the process is gone.
import http from 'node:http';
import fs from 'node:fs';
import request from 'supertest';
import { createKey, generateKey } from '../src/accounts/api-keys';
import { verifyLedger } from '../src/ledger/verify';
import { loadModels, priceOf } from '../src/metering/models';
import { countTextSync } from '../src/metering/tokens';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { csrfFrom, register, sqlOf, tempDir, type Agent } from './helpers';
import { databaseFor, serve, terminate } from './spawned-server';

const DEADLINE_MS = 1500;
/** Past the deadline: the stopped answers' settles, closing the databases, the process's exit. */
const MARGIN_MS = 2500;
const BONUS = 100_000;
const MINI = loadModels().find('gpt-4o-mini')!;
/** A 30 s answer: the deadline comes long before its end. */
const slowAnswer = () => ({ kind: 'stream' as const, pieces: Array.from({ length: 300 }, () => ' word'), delayMs: 100 });

let fake: FakeUpstream;
beforeAll(async () => (fake = await startFakeUpstream()));
afterAll(async () => fake.close());

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A question sent from the chat page as htmx sends it; `answer` resolves with the streamed answer once it ends. */
async function pageAnswer(agent: Agent): Promise<{ answer: Promise<string> }> {
  const page = await agent.get('/');
  const hidden = (id: string) => new RegExp(`id="${id}" name="[^"]+" value="([^"]*)"`).exec(page.text)?.[1];
  const fields = {
    _csrf: csrfFrom(page.text), turn_key: hidden('turn-key')!, conversation_id: '',
    message: 'What is a token?', system: '', model: MINI.id, temperature: '', max_tokens: '',
  };
  const answer = agent.post('/send').type('form').set('HX-Request', 'true').set('Accept', 'text/html, text/event-stream').send(fields)
    .then((res) => res.text, (err: Error) => `cut off: ${err.message}`);
  return { answer };
}

/** A streamed /v1 call read as it comes: the content so far, and how the stream ended. */
function v1Stream(url: string, key: string) {
  let raw = '';
  const body = JSON.stringify({ model: MINI.id, messages: [{ role: 'user', content: 'What is a token?' }], stream: true });
  const ended = new Promise<'closed' | 'cut'>((resolve) => {
    const req = http.request(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } }, (res) => {
      res.setEncoding('utf8').on('data', (d: string) => (raw += d));
      res.on('end', () => resolve('closed')).on('error', () => resolve('cut')).on('aborted', () => resolve('cut'));
    });
    req.on('error', () => resolve('cut'));
    req.end(body);
  });
  const events = () => raw.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)) as { choices?: { delta: { content?: string } }[]; error?: unknown });
  const content = () => events().map((e) => e.choices?.[0]?.delta.content ?? '').join('');
  return { ended, content };
}

async function withDatabase<T>(db: ReturnType<typeof databaseFor>, fn: (database: ReturnType<ReturnType<typeof databaseFor>['open']>) => Promise<T>): Promise<T> {
  const database = db.open();
  try {
    return await fn(database);
  } finally {
    await database.close();
  }
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500 && !(await check()); i++) await pause(20);
  if (!(await check())) throw new Error(`gave up waiting for ${what}`);
}

/**
 * A server on a slow model API with a user (and, for /v1, their key), the answers asked for
 * started and streaming; then SIGTERM. Answers what the clients got, how long the process took,
 * and what the database holds once it is gone.
 */
async function shutDownWhileStreaming(answers: { page: boolean; v1: boolean }) {
  const dataDir = tempDir();
  const db = databaseFor(dataDir);
  const srv = await serve(dataDir, { ...db.env, OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, SHUTDOWN_TIMEOUT_MS: String(DEADLINE_MS), SIGNUP_BONUS: String(BONUS) });
  try {
    const agent = request.agent(srv.url);
    expect((await register(agent, 'streamer')).status).toBe(303);
    fake.script([slowAnswer(), slowAnswer()]);
    const page = answers.page ? await pageAnswer(agent) : undefined;
    const key = answers.v1 && (await withDatabase(db, async (database) => {
      const userId = (await sqlOf(database).value<number>('SELECT id FROM users'))!;
      return (await database.write(createKey, userId, { name: 'k', models: null, perDay: null, total: null, expiresAt: null }, generateKey())).key;
    }));
    const v1 = key ? v1Stream(srv.url, key) : undefined;
    const streams = Number(answers.page) + Number(answers.v1);
    await until('every answer streaming', () => withDatabase(db, async (database) =>
      (await sqlOf(database).value<number>('SELECT count(*) FROM holds WHERE delivered > 0')) === streams));

    const exit = await terminate(srv, DEADLINE_MS + 10_000);
    if (!exit) throw new Error(`the server had not exited ${DEADLINE_MS + 10_000} ms after SIGTERM (deadline ${DEADLINE_MS} ms)`);

    const after = await withDatabase(db, async (database) => {
      const sql = sqlOf(database);
      return {
        holds: await sql.all<{ turn_key: string; state: string; outcome: string; charge: number; prompt_tokens: number }>('SELECT * FROM holds ORDER BY id'),
        messages: await sql.all<{ content: string; status: string }>(`SELECT * FROM messages WHERE role = 'assistant'`),
        balance: (await sql.value<number>('SELECT balance FROM balances'))!,
        violations: await database.read(verifyLedger, 60_000),
      };
    });
    return { exit, srv, after, page: await page?.answer, v1: v1 && { ended: await v1.ended, content: v1.content() } };
  } finally {
    if (srv.child.exitCode === null) srv.child.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
    await db.drop();
  }
}

/** Each hold settled as a Stop settles: the prompt plus the completion its client was sent. */
function expectStoppedAndSettled(after: Awaited<ReturnType<typeof shutDownWhileStreaming>>['after'], delivered: { page?: string; v1?: string }) {
  const expected = [delivered.page, delivered.v1].filter((text) => text !== undefined);
  expect(after.holds).toHaveLength(expected.length);
  expect(after.holds.filter((h) => h.state === 'held')).toEqual([]);
  for (const hold of after.holds) {
    const text = hold.turn_key.startsWith('api-') ? delivered.v1! : delivered.page!;
    expect(text.length).toBeGreaterThan(0);
    expect(hold).toEqual(expect.objectContaining({ state: 'settled', outcome: 'stopped', charge: priceOf(MINI, hold.prompt_tokens, countTextSync(text, MINI.encoding)) }));
  }
  expect(after.balance).toBe(BONUS - after.holds.reduce((sum, h) => sum + h.charge, 0));
  expect(after.violations).toEqual([]);
}

describe('SIGTERM with answers streaming past SHUTDOWN_TIMEOUT_MS: the process exits by the deadline, every answer stopped and settled', () => {
  test('a /v1 stream alone', async () => {
    const { exit, after, v1 } = await shutDownWhileStreaming({ page: false, v1: true });
    expect(exit.code).toBe(0);
    expect(exit.afterMs).toBeLessThan(DEADLINE_MS + MARGIN_MS);
    expect(['closed', 'cut']).toContain(v1!.ended); // the client is not left waiting
    expectStoppedAndSettled(after, { v1: v1!.content });
  }, 60_000);

  test('a /v1 stream beside a page answer', async () => {
    const { exit, after, v1, page } = await shutDownWhileStreaming({ page: true, v1: true });
    expect(exit.code).toBe(0);
    expect(exit.afterMs).toBeLessThan(DEADLINE_MS + MARGIN_MS);
    expect(['closed', 'cut']).toContain(v1!.ended);
    expect(page).toContain('Stopped.');
    expect(after.messages).toEqual([expect.objectContaining({ status: 'stopped' })]);
    expectStoppedAndSettled(after, { v1: v1!.content, page: after.messages[0]!.content });
  }, 60_000);

  test('a page answer alone', async () => {
    const { exit, after, page } = await shutDownWhileStreaming({ page: true, v1: false });
    expect(exit.code).toBe(0);
    expect(exit.afterMs).toBeLessThan(DEADLINE_MS + MARGIN_MS);
    expect(page).toContain('Stopped.');
    expect(after.messages).toEqual([expect.objectContaining({ status: 'stopped' })]);
    expectStoppedAndSettled(after, { page: after.messages[0]!.content });
  }, 60_000);
});
