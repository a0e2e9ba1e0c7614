// /v1 calls that must stop or be refused mid-flight: a key's tokens per minute counted at the
// reserve (calls at once cannot pass it together), and a revoked key or a disabled owner stopping
// the calls already running, on this process and on another one on the same database, charged
// as Stop on the page is (the prompt and what was delivered).
import OpenAI, { APIError } from 'openai';
import { createKey, generateKey, type NewKey } from '../src/accounts/api-keys';
import { setDisabled } from '../src/admin/actions';
import { loadConfig } from '../src/config';
import { verifyLedger } from '../src/ledger/verify';
import { createLogger } from '../src/log';
import { startServer, type RunningServer } from '../src/server';
import { csrfFrom, startTestServer, type TestServer } from './helpers';
import { newUser, pause, until, type User } from './chat-helpers';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';

let fake: FakeUpstream;
let srv: TestServer;
let second: RunningServer;

const ENV = {
  OPENAI_API_KEY: 'sk-test', LOGIN_RATE_LIMIT_PER_IP: '10000', SIGNUP_BONUS: '100000',
  API_IN_FLIGHT_PER_USER: '60', API_IN_FLIGHT_PER_KEY: '60', UPSTREAM_CONCURRENCY: '64', QUEUE_MAX_WAITING: '200',
};

beforeAll(async () => {
  fake = await startFakeUpstream();
  srv = await startTestServer({ ...ENV, OPENAI_BASE_URL: fake.url });
  // A second server process on the same database (its own signals, as another host's would be).
  const config = loadConfig({
    NODE_ENV: 'test', PORT: '0', LOG_LEVEL: 'silent', HASH_CONCURRENCY: '2', DATA_DIR: srv.dataDir, ...ENV, OPENAI_BASE_URL: fake.url,
    ...(srv.config.databaseUrl && { DATABASE_URL: srv.config.databaseUrl, SESSION_SECRET: 'test-secret-test-secret-test-secret-1234' }),
  });
  second = await startServer(config, createLogger('silent'), { schema: (srv.database as { schema?: string }).schema });
});
afterAll(async () => {
  await second.close();
  await srv.close();
  await fake.close();
});
afterEach(async () => {
  fake.clear();
  expect(await srv.database.read(verifyLedger, 3_600_000)).toEqual([]);
});

const NO_LIMITS: NewKey = { name: 'laptop', models: null, perDay: null, total: null, expiresAt: null };
const keyFor = (user: User, opts: Partial<NewKey> = {}) => srv.database.write(createKey, user.id, { ...NO_LIMITS, ...opts }, generateKey());
const client = (key: string, url = srv.url) => new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });
const ask = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Count to a thousand.' }], max_tokens: 400 };

interface HoldRow {
  state: string;
  outcome: string;
  prompt: number;
  completion: number;
  charge: number;
  promptTokens: number;
  maxCompletion: number;
}
const holdsOf = (keyId: number) =>
  srv.sql.all<HoldRow>(
    `SELECT state, outcome, used_prompt_tokens AS prompt, completion_tokens AS completion, charge, prompt_tokens AS "promptTokens",
       max_completion AS "maxCompletion" FROM holds WHERE api_key_id = ? ORDER BY id`, keyId);

/** A long answer (200 pieces, 50 ms apart: 10 s) streamed to `got`; resolves with how the stream ended. */
function longStream(key: string, got: string[], url?: string): Promise<unknown> {
  fake.script({ kind: 'stream', pieces: Array.from({ length: 200 }, () => ' hello'), delayMs: 50, usage: { prompt_tokens: 15, completion_tokens: 200 } });
  return (async () => {
    for await (const chunk of await client(key, url).chat.completions.create({ ...ask, stream: true })) got.push(chunk.choices[0]?.delta.content ?? '');
    return 'ran to the end';
  })().catch((err: unknown) => err);
}

/** The call's one hold, once it is closed: charged the prompt plus what was delivered, nothing more. */
async function stoppedHold(keyId: number, delivered: number): Promise<HoldRow> {
  await until('the stopped call settles', async () => (await holdsOf(keyId)).every((h) => h.state !== 'held'));
  const [hold] = await holdsOf(keyId);
  expect(hold).toMatchObject({ state: 'settled', outcome: 'stopped', completion: delivered });
  expect(hold!.charge).toBe(hold!.prompt + delivered * 4); // gpt-4o-mini: completion tokens cost 4
  return hold!;
}

describe("a key's tokens per minute, counted when a call reserves", () => {
  test('30 calls at once on a key of 100 tokens a minute: what they hold and use stays within 100; the rest get 429 tpm_limit_reached', async () => {
    const user = await newUser(srv);
    const { key, id } = await keyFor(user, { tpm: 100 });
    fake.script(Array.from({ length: 30 }, () => ({ kind: 'stream' as const, delayMs: 20, usage: { prompt_tokens: 12, completion_tokens: 6 } })));
    const results = await Promise.all(
      Array.from({ length: 30 }, () => client(key).chat.completions.create({ ...ask, max_tokens: 40 }).then(() => 'ok', (e: unknown) => e as APIError)),
    );
    const refused = results.filter((r): r is APIError => r !== 'ok');
    expect(refused.length).toBeGreaterThan(0);
    for (const err of refused) {
      expect(err.status).toBe(429);
      expect(err.code).toBe('tpm_limit_reached');
      expect(Number(err.headers?.get('retry-after'))).toBeGreaterThan(0);
    }
    const holds = await holdsOf(id);
    expect(holds.length).toBe(30 - refused.length);
    expect(holds.length).toBeGreaterThan(0);
    // Calls in flight counted at what they held, settled ones at what they used: within the minute's 100.
    expect(holds.every((h) => h.state === 'settled')).toBe(true);
    expect(holds.reduce((sum, h) => sum + h.prompt + h.completion, 0)).toBeLessThanOrEqual(100);
  });

  test('a settled call gives back what it held but did not use: the next call fits at once', async () => {
    const user = await newUser(srv);
    const { key, id } = await keyFor(user, { tpm: 120 });
    fake.script([{ kind: 'stream', usage: { prompt_tokens: 12, completion_tokens: 6 } }, { kind: 'stream', usage: { prompt_tokens: 12, completion_tokens: 6 } }]);
    await client(key).chat.completions.create({ ...ask, max_tokens: 100 }); // holds about 110, uses 18
    await client(key).chat.completions.create({ ...ask, max_tokens: 100 }); // about 100 left: fits, its completion shrunk
    const holds = await holdsOf(id);
    expect(holds.map((h) => h.state)).toEqual(['settled', 'settled']);
    expect(holds[1]!.promptTokens + holds[1]!.maxCompletion).toBeLessThanOrEqual(120 - 18);
  });

  test('a prompt larger than the whole minute: 400 that says not to retry, nothing held', async () => {
    const user = await newUser(srv);
    const { key, id } = await keyFor(user, { tpm: 20 });
    const err = (await client(key).chat.completions.create({ ...ask, messages: [{ role: 'user', content: 'word '.repeat(100) }] }).catch((e: unknown) => e)) as APIError;
    expect([err.status, err.code, err.headers?.get('x-should-retry')]).toEqual([400, 'tpm_limit_exceeded', 'false']);
    expect(await holdsOf(id)).toEqual([]);
  });
});

describe('a shutdown at its deadline', () => {
  test('a non-streamed call still running gets what it was charged for: a 200 with the answer so far, finish_reason "length"', async () => {
    const draining = await startTestServer({ ...ENV, OPENAI_BASE_URL: fake.url, SHUTDOWN_TIMEOUT_MS: '300' });
    const user = await newUser(draining);
    const { key, id } = await draining.database.write(createKey, user.id, NO_LIMITS, generateKey());
    fake.script({ kind: 'stream', pieces: Array.from({ length: 200 }, () => ' hello'), delayMs: 50, usage: { prompt_tokens: 15, completion_tokens: 200 } });
    const answer = client(key, draining.url).chat.completions.create(ask);
    await until('the answer is being written', () => fake.requests.length > 0 && draining.sql.value<number>("SELECT delivered FROM holds WHERE api_key_id = ?", id).then((d) => (d ?? 0) > 0));
    const closed = draining.close();
    const done = await answer;
    await closed;
    const delivered = (done.choices[0]!.message.content ?? '').split(' hello').length - 1;
    expect(done.choices[0]!.finish_reason).toBe('length');
    expect(delivered).toBeGreaterThan(0);
    expect(delivered).toBeLessThan(200);
    expect(done.usage?.completion_tokens).toBe(delivered);
  });
});

describe('a revoked key or a disabled owner stops the calls already running', () => {
  test('revoked on its owner\'s keys page: the running stream ends with an error, charged the prompt and what it was sent', async () => {
    const user = await newUser(srv);
    const { key, id } = await keyFor(user);
    const got: string[] = [];
    const ended = longStream(key, got);
    await until('the answer is streaming', () => got.length >= 5);
    const page = await user.agent.get('/keys');
    expect((await user.agent.post(`/keys/${id}/revoke`).type('form').send({ _csrf: csrfFrom(page.text), confirm: '1' })).status).toBe(303);
    const err = (await ended) as APIError;
    expect(err).toBeInstanceOf(APIError);
    expect(err.message).toContain('revoked');
    expect(got.length).toBeLessThan(100);
    await stoppedHold(id, got.filter(Boolean).length);
  });

  test('disabled by an operation that sends no signal (the command line on SQLite): the watch stops the stream within seconds', async () => {
    const user = await newUser(srv);
    const { key, id } = await keyFor(user);
    const got: string[] = [];
    const ended = longStream(key, got);
    await until('the answer is streaming', () => got.length >= 5);
    await srv.database.write(setDisabled, null, user.id, true);
    const err = (await ended) as APIError;
    expect(err).toBeInstanceOf(APIError);
    expect(err.message).toContain('disabled');
    expect(got.length).toBeLessThan(180); // the watch looks every 5 s; the answer takes 10
    await stoppedHold(id, got.filter(Boolean).length);
  });

  test('revoked on one server, the key\'s stream on another server of the same database stops', async () => {
    const user = await newUser(srv);
    const { key, id } = await keyFor(user);
    const got: string[] = [];
    const ended = longStream(key, got, second.url);
    await until('the answer is streaming on the second server', () => got.length >= 5);
    const page = await user.agent.get('/keys');
    expect((await user.agent.post(`/keys/${id}/revoke`).type('form').send({ _csrf: csrfFrom(page.text), confirm: '1' })).status).toBe(303);
    const err = (await ended) as APIError;
    expect(err).toBeInstanceOf(APIError);
    expect(got.length).toBeLessThan(180);
    await stoppedHold(id, got.filter(Boolean).length);
    // The key is refused for new calls on both.
    for (const url of [srv.url, second.url]) await expect(client(key, url).models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  test("another key of the same user runs on when one is revoked", async () => {
    const user = await newUser(srv);
    const revoked = await keyFor(user);
    const kept = await keyFor(user);
    const gotRevoked: string[] = [];
    const gotKept: string[] = [];
    const endedRevoked = longStream(revoked.key, gotRevoked);
    await until('the first answer streams', () => gotRevoked.length >= 2);
    const endedKept = longStream(kept.key, gotKept);
    await until('both answers stream', () => gotKept.length >= 2);
    const page = await user.agent.get('/keys');
    await user.agent.post(`/keys/${revoked.id}/revoke`).type('form').send({ _csrf: csrfFrom(page.text), confirm: '1' });
    expect(await endedRevoked).toBeInstanceOf(APIError);
    await pause(300);
    expect(await endedKept).toBe('ran to the end');
    expect(gotKept.filter(Boolean).length).toBe(200);
  }, 30_000);
});
