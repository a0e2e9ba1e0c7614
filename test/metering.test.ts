// Metering holes an adversarial review found (issue 11): what a turn is charged when the user
// stops a model that bills hidden tokens, when a provider over-reports usage or ignores
// max_tokens, and when a turn is stopped before its request goes out. Each test drives the real
// server (or runTurn itself) against the fake model API and reads the database.
import fs from 'node:fs';
import path from 'node:path';
import { addTurn, createConversation, finishMessage } from '../src/chat/conversations';
import { grant, openAccount, reserve, settleOrRead } from '../src/ledger/ledger';
import { createLogger } from '../src/log';
import { loadModels, priceOf } from '../src/metering/models';
import { setSpendLimits } from '../src/ledger/spend-limits';
import { query, type Op } from '../src/storage/op';
import { countTextSync } from '../src/metering/tokens';
import { runTurn, type TurnEvent } from '../src/chat/turn';
import { TurnQueue } from '../src/chat/turn-queue';
import { createUpstream } from '../src/upstream/router';
import { composer, conversationIdIn, db, newUser, openStream, post, until, type Fields } from './chat-helpers';
import { gate, startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { ON_POSTGRES, openTempDatabase, startTestServer, tempDir, type TestServer } from './helpers';

let fake: FakeUpstream;
let srv: TestServer;
let q: ReturnType<typeof db>;
const modelsDir = tempDir();
const MODELS_FILE = path.join(modelsDir, 'models.json');
fs.writeFileSync(MODELS_FILE, JSON.stringify({
  version: 1,
  models: [
    { id: 'gpt-4o-mini', name: 'GPT-4o mini', encoding: 'o200k_base', context_window: 128000, prompt_rate: 1, completion_rate: 4 },
    // Reasoning by its name; and one flagged in the file whose name says nothing.
    { id: 'o4-mini', name: 'o4 mini', encoding: 'o200k_base', context_window: 200000, prompt_rate: 1, completion_rate: 1 },
    { id: 'thinker', name: 'Thinker', encoding: 'o200k_base', context_window: 64000, prompt_rate: 1, completion_rate: 1, hidden_tokens: true, max_output: 1000 },
  ],
}));
const catalog = loadModels(MODELS_FILE);
const MINI = catalog.find('gpt-4o-mini')!;
const O4 = catalog.find('o4-mini')!;
const THINKER = catalog.find('thinker')!;
const tokens = (text: string) => countTextSync(text, 'o200k_base');

beforeAll(async () => {
  fake = await startFakeUpstream();
  srv = await startTestServer({
    OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, MODELS_FILE, SIGNUP_BONUS: '10000', LOGIN_RATE_LIMIT_PER_IP: '10000',
  });
  q = db(srv);
});
afterAll(async () => {
  await srv.close();
  await fake.close();
  fs.rmSync(modelsDir, { recursive: true, force: true });
});

describe('the models file', () => {
  test('hidden_tokens defaults from the name (o1/o3/o4/gpt-5) and can be set; max_output sets the default ceiling', () => {
    expect([MINI.hiddenTokens, O4.hiddenTokens, THINKER.hiddenTokens]).toEqual([false, true, true]);
    expect([MINI.maxOutput, THINKER.maxOutput]).toEqual([2048, 1000]);
  });

  test('an unknown field or format version stops start-up naming it', () => {
    const bad = path.join(modelsDir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ version: 1, models: [{ ...{ id: 'x', name: 'x', encoding: 'o200k_base', context_window: 100, prompt_rate: 1, completion_rate: 1 }, hidden: true }] }));
    expect(() => loadModels(bad)).toThrow(/models\.0.*hidden/);
    fs.writeFileSync(bad, JSON.stringify({ version: 2, models: [{ id: 'x', name: 'x', encoding: 'o200k_base', context_window: 100, prompt_rate: 1, completion_rate: 1 }] }));
    expect(() => loadModels(bad)).toThrow(/version/);
  });
});

describe('Stop on a model that bills hidden reasoning tokens', () => {
  const reasoningUsage = { prompt_tokens: 20, completion_tokens: 1981, completion_tokens_details: { reasoning_tokens: 1900 } };

  async function stopAfterFirstPiece(model: string, usage: typeof reasoningUsage | false) {
    const user = await newUser(srv);
    const before = await q.balance(user);
    const g = gate();
    fake.script({ kind: 'stream', pieces: ['Think', 'ing', ' done', ' after'], gate: g, gateAfter: 1, usage });
    const fields: Fields = { ...(await composer(user)), model };
    const live = openStream(srv, user, fields);
    await g.reached;
    await until('the first piece', () => live.text.includes('>Think</hx-partial>'));
    const stop = await post(user, '/stop', { _csrf: fields._csrf, conversation_id: String(conversationIdIn(live.text)) });
    expect(stop.status).toBe(204);
    g.release(); // the provider goes on and finishes
    await live.done;
    return { user, before, live, request: fake.requests.at(-1)! };
  }

  test.each(['o4-mini', 'thinker'])('%s: the answer stops showing, is read on to the usage, and the reported usage is charged', async (model) => {
    const { user, before, live, request } = await stopAfterFirstPiece(model, reasoningUsage);
    expect(await request.closed).toBe(false); // read to its end, not cut
    const [hold] = await q.holds(user);
    const info = catalog.find(model)!;
    // thinker's max_output (1000) sizes its hold below what is reported: the hold is the most a turn costs.
    expect(hold.max_completion).toBe(info.maxOutput);
    const reported = priceOf(info, 20, 1981);
    const charge = Math.min(reported, hold.amount);
    expect(hold).toMatchObject({ state: 'settled', completion_tokens: 1981, charge, source: 'reported', outcome: 'stopped', uncollected: reported - charge });
    expect(charge).toBeGreaterThan(priceOf(info, 20, tokens('Think'))); // not prompt + what was shown, as before
    expect(before - (await q.balance(user))).toBe(charge);
    expect(live.text).not.toContain(' done'); // nothing after Stop was shown
    const [, answer] = await q.messagesOfUser(user);
    expect(answer).toMatchObject({ content: 'Think', status: 'stopped', charge, reasoning_tokens: 1900 });
    expect(live.text).toContain('includes 1,900 reasoning tokens');
    expect(live.text).toContain('Waiting for the provider to say how many tokens it used');
  });

  test('when no usage ever comes, the stop rule applies: prompt + what was shown', async () => {
    const { user, before } = await stopAfterFirstPiece('o4-mini', false);
    const [hold] = await q.holds(user);
    const charge = priceOf(O4, hold.prompt_tokens, tokens('Think'));
    expect(hold).toMatchObject({ state: 'settled', completion_tokens: tokens('Think'), charge, source: 'estimated', outcome: 'stopped' });
    expect(before - (await q.balance(user))).toBe(charge);
  });

  test('an ordinary model is still cut at Stop, the call closed at once', async () => {
    const { user, request } = await stopAfterFirstPiece(MINI.id, reasoningUsage);
    expect(await request.closed).toBe(true);
    expect((await q.holds(user))[0]).toMatchObject({ source: 'estimated', outcome: 'stopped', completion_tokens: tokens('Think') });
  });
});

describe('a provider that over-reports or ignores limits', () => {
  test('usage reported far past the hold is charged the hold at most, never past a per-message limit; the rest is uncollected', async () => {
    const user = await newUser(srv);
    await srv.database.write(setSpendLimits, user.id, { perMessage: 300, perDay: null });
    const before = await q.balance(user);
    fake.script({ kind: 'stream', pieces: ['Hi'], usage: { prompt_tokens: 10, completion_tokens: 1500 } });
    const res = await post(user, '/send', await composer(user, '/', 'Hello'));
    expect(res.status).toBe(200);
    const [hold] = await q.holds(user);
    expect(hold.amount).toBeLessThanOrEqual(300);
    expect(hold.charge).toBe(hold.amount);
    expect(hold.uncollected).toBe(priceOf(MINI, 10, 1500) - hold.amount);
    expect(before - (await q.balance(user))).toBe(hold.amount);
  });

  test('an answer past max_tokens is cut at the limit before the browser sees more: what is shown is what is charged', async () => {
    const user = await newUser(srv);
    const before = await q.balance(user);
    fake.script({ kind: 'stream', pieces: Array.from({ length: 12 }, () => ' word'), usage: { prompt_tokens: 10, completion_tokens: 12 } });
    const res = await post(user, '/send', { ...(await composer(user, '/', 'Count')), max_tokens: '5' });
    expect(res.status).toBe(200);
    expect(res.text.match(/> word<\/hx-partial>/g)).toHaveLength(5);
    const [hold] = await q.holds(user);
    const [, answer] = await q.messagesOfUser(user);
    expect(answer.content).toBe(' word'.repeat(5));
    expect(hold).toMatchObject({ completion_tokens: 5, source: 'estimated', charge: priceOf(MINI, hold.prompt_tokens, 5) });
    expect(before - (await q.balance(user))).toBe(hold.charge);
  });

  test('a single delta that crosses the limit is cut inside it, at a token boundary', async () => {
    const user = await newUser(srv);
    fake.script({ kind: 'stream', pieces: ['一二三四五六七八九十 and then some more words'], usage: { prompt_tokens: 10, completion_tokens: 40 } });
    const res = await post(user, '/send', { ...(await composer(user, '/', 'Count')), max_tokens: '3' });
    expect(res.status).toBe(200);
    const [, answer] = await q.messagesOfUser(user);
    expect(tokens(answer.content)).toBeLessThanOrEqual(3);
    expect('一二三四五六七八九十 and then some more words'.startsWith(answer.content)).toBe(true);
    expect(answer.content.length).toBeGreaterThan(0);
    expect((await q.holds(user))[0]).toMatchObject({ completion_tokens: tokens(answer.content) });
  });
});

describe('one answer holding the whole balance', () => {
  test('a second turn refused only because of it waits for it (the page says so) instead of failing', async () => {
    const user = await newUser(srv);
    await grant(srv.database, user.id, -((await q.balance(user)) - 300)); // 300 left: the first answer holds all of it
    const g = gate();
    fake.script([
      { kind: 'stream', pieces: ['First', ' answer'], gate: g, gateAfter: 1, usage: { prompt_tokens: 10, completion_tokens: 2 } },
      { kind: 'stream', pieces: ['Second'], usage: { prompt_tokens: 12, completion_tokens: 1 } },
    ]);
    const first = openStream(srv, user, await composer(user, '/', 'One'));
    await g.reached;
    await until('the first piece', () => first.text.includes('>First</hx-partial>'));
    expect(await q.balance(user)).toBe(0);
    const second = openStream(srv, user, await composer(user, '/', 'Two'));
    await until('the second to wait', () => second.text.includes('Waiting for your other answers to finish'));
    g.release();
    await Promise.all([first.done, second.done]);
    expect(second.status).toBe(200);
    expect(second.text).toContain('>Second</hx-partial>');
    const holds = await q.holds(user);
    expect(holds.map((h) => [h.state, h.charge])).toEqual([['settled', priceOf(MINI, 10, 2)], ['settled', priceOf(MINI, 12, 1)]]);
    expect(await q.balance(user)).toBe(300 - priceOf(MINI, 10, 2) - priceOf(MINI, 12, 1));
  });

  test('a turn that the balance cannot pay even when the running answers end is refused at once', async () => {
    const user = await newUser(srv);
    await grant(srv.database, user.id, -((await q.balance(user)) - 3)); // not even a prompt
    const res = await post(user, '/send', await composer(user, '/', 'Hello there, a question'));
    expect(res.status).toBe(402);
  });
});

describe('a balance that pays for only a few answer tokens', () => {
  test('the turn is refused before the model is called, saying how much more is needed; the estimate warns first', async () => {
    const user = await newUser(srv);
    const fields = await composer(user, '/', 'Hello');
    // What this prompt costs with 31 answer tokens: one short of MIN_COMPLETION_TOKENS (32).
    const estimate = await user.agent.post('/estimate').type('form').set('HX-Request', 'true').send(fields);
    const prompt = Number(/About (\d+) prompt tokens/.exec(estimate.text)![1]);
    await grant(srv.database, user.id, -((await q.balance(user)) - priceOf(MINI, prompt, 31)));
    const warned = await user.agent.post('/estimate').type('form').set('HX-Request', 'true').send(fields);
    expect(warned.text).toContain(`does not pay for it with at least 32 tokens of answer: it would be refused (${priceOf(MINI, prompt, 32) - priceOf(MINI, prompt, 31)} more are needed)`);
    const calls = fake.requests.length;
    const res = await post(user, '/send', fields);
    expect(res.status).toBe(402);
    expect(res.text).toContain(`at least 32 tokens of answer) needs ${priceOf(MINI, prompt, 32) - priceOf(MINI, prompt, 31)} more than your balance`);
    expect(fake.requests.length).toBe(calls);
    expect(await q.holds(user)).toHaveLength(0);
    // Asking for fewer answer tokens than that is paid for, and goes.
    fake.script({ kind: 'stream', pieces: ['Brief'], usage: { prompt_tokens: prompt, completion_tokens: 1 } });
    const brief = await post(user, '/send', { ...(await composer(user, '/', 'Hello')), max_tokens: '8' });
    expect(brief.status).toBe(200);
    expect(fake.requests.at(-1)!.body.max_tokens).toBe(8);
  });
});

/** A user with 5,000 tokens and a conversation in `store`, and what runTurn needs to answer them from the fake model API. */
async function soloTurn(store: Awaited<ReturnType<typeof openTempDatabase>>['database'], name: string) {
  const userId = await store.write(function* (): Op<number> {
    const user = yield* query('accounts.insert', { username: name, key: name, hash: '$argon2id$x', role: 'user' });
    yield* openAccount(user!.id, 5000);
    return user!.id;
  });
  const settings = { systemPrompt: '', model: MINI.id, temperature: null, maxTokens: null };
  const conversation = await store.write(createConversation, userId, name, settings);
  const deps = {
    store, upstream: createUpstream({ apiKey: 'sk-test', baseURL: fake.url, timeoutMs: 5000 }),
    queue: new TurnQueue({ perUser: 3, global: 4, maxWaiting: 10 }), logger: createLogger('silent'),
  };
  return { userId, settings, conversation, deps };
}

describe('a turn stopped between its reserve and its request', () => {
  test('nothing is sent and nothing is charged', async () => {
    const temp = await openTempDatabase();
    const store = temp.database;
    try {
      const { userId, settings, conversation, deps } = await soloTurn(store, 'early');
      const calls = fake.requests.length;
      const controller = new AbortController();
      // Stop arrives just as the hold is taken: the 'start' event is the first thing after the reserve.
      const emit = (event: TurnEvent) => event.type === 'start' && controller.abort();
      const result = await runTurn(deps, { userId, conversation, mode: 'send', text: 'Hi', settings, model: MINI, turnKey: 'k1', signal: controller.signal }, emit);
      expect(result).toMatchObject({ status: 'done', message: { status: 'stopped', charge: 0 } });
      expect(fake.requests.length).toBe(calls);
      const hold = await temp.sql.get('SELECT state, charge, outcome FROM holds');
      expect(hold).toEqual({ state: 'settled', charge: 0, outcome: 'stopped' });
      expect(await temp.sql.value('SELECT balance FROM balances WHERE user_id = ?', userId)).toBe(5000);
    } finally {
      await temp.close();
    }
  });
});

describe('a turn that settles', () => {
  test("its message is finished in the settle's own transaction: when the finish cannot be written, the settle is not either", async () => {
    const temp = await openTempDatabase();
    const store = temp.database;
    try {
      const { userId, conversation } = await soloTurn(store, 'atomic');
      // A turn as runTurn stores it: its hold, then its question and the answer being written.
      const held = await reserve(store, { userId, turnKey: 'atomic-1', model: MINI, promptTokens: 10, maxCompletion: 100 });
      if (held.status !== 'held') throw new Error(`the reserve answered ${held.status}`);
      const stored = await store.write(addTurn, conversation.id, 'send', 'Hi', MINI.id, held.hold.id, 0);
      const answerId = stored!.assistant.id;
      const usage = { promptTokens: 10, completionTokens: 20, source: 'reported', outcome: 'ok' } as const;
      const finish = (charge: number) => finishMessage(answerId, { content: 'Hello', promptTokens: 10, completionTokens: 20, charge, source: 'reported', status: 'done', holdId: held.hold.id });
      // The database refuses to finish any answer (a fault between the two writes, as they were before).
      if (ON_POSTGRES) {
        await temp.sql.run("CREATE FUNCTION refuse_finish() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'finish refused'; END $$");
        await temp.sql.run("CREATE TRIGGER refuse_finish BEFORE UPDATE ON messages FOR EACH ROW WHEN (NEW.status <> 'streaming') EXECUTE FUNCTION refuse_finish()");
      } else {
        await temp.sql.run("CREATE TRIGGER refuse_finish BEFORE UPDATE ON messages WHEN NEW.status <> 'streaming' BEGIN SELECT RAISE(ABORT, 'finish refused'); END");
      }
      // After its retries. (The error is read by its message: better-sqlite3 makes its errors with the
      // Error of the first test file its worker loaded, which jest's toThrow does not take for an error.)
      const refused = await settleOrRead(store, held.hold, usage, undefined, finish).then(() => 'settled', (err: unknown) => String((err as Error).message));
      expect(refused).toContain('finish refused');
      // Neither was written: the hold is still held (the recovery sweep resolves it), the answer still streaming.
      const state = () => temp.sql.get('SELECT h.state, h.charge, m.status, m.charge AS "shown" FROM holds h JOIN messages m ON m.hold_id = h.id');
      expect(await state()).toEqual({ state: 'held', charge: null, status: 'streaming', shown: null });
      expect(await temp.sql.value('SELECT balance FROM balances WHERE user_id = ?', userId)).toBe(5000 - held.hold.amount);
      expect(await temp.sql.value("SELECT count(*) FROM ledger WHERE kind = 'settle'")).toBe(0);

      // The fault gone, both are written at once, with the one charge.
      await temp.sql.run('DROP TRIGGER refuse_finish' + (ON_POSTGRES ? ' ON messages' : ''));
      const settled = await settleOrRead(store, held.hold, usage, undefined, finish);
      expect(settled).toMatchObject({ charge: priceOf(MINI, 10, 20), afterWritten: true });
      expect(await state()).toEqual({ state: 'settled', charge: settled.charge, status: 'done', shown: settled.charge });
    } finally {
      await temp.close();
    }
  }, 15_000);
});

describe('GET /metrics', () => {
  test('off by default: a 404', async () => {
    expect((await srv.agent().get('/metrics')).status).toBe(404);
  });

  test('with METRICS=true: turns by outcome, tokens charged, latency and queue, and no user data', async () => {
    const on = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, METRICS: 'true', SIGNUP_BONUS: '5000' });
    try {
      const user = await newUser(on);
      fake.script({ kind: 'stream', pieces: ['Metered'], usage: { prompt_tokens: 10, completion_tokens: 1 } });
      expect((await post(user, '/send', await composer(user, '/', 'A secret question'))).status).toBe(200);
      const res = await on.agent().get('/metrics');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      expect(res.text).toMatch(/^tokenchat_turns_total\{outcome="ok"\} [1-9]\d*$/m);
      expect(res.text).toMatch(/^tokenchat_tokens_charged_total [1-9]\d*$/m);
      expect(res.text).toContain('tokenchat_upstream_latency_seconds_bucket');
      // Timed by the store (storage/write-timer.ts, wired by the server): writes were counted.
      expect(res.text).toMatch(/^tokenchat_db_write_seconds_count [1-9]\d*$/m);
      expect(res.text).toMatch(/^tokenchat_queue_waiting 0$/m);
      expect(res.text).not.toMatch(/chatter|secret question|Metered/);
      expect(res.headers['set-cookie']).toBeUndefined(); // scrapers never get a session
    } finally {
      await on.close();
    }
  });
});
