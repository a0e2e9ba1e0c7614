// /v1: the OpenAI-compatible API on personal keys, driven by the official openai package against
// a fake model API, with the same metering guarantees as the chat page.
import OpenAI, { APIError } from 'openai';
import { createKey, generateKey, revokeKey, type NewKey } from '../src/accounts/api-keys';
import { setDisabled } from '../src/admin/actions';
import { RunningTurns } from '../src/chat/running-turns';
import { balanceOf, grant } from '../src/ledger/ledger';
import { verifyLedger } from '../src/ledger/verify';
import { composer, db, newUser, post, type User } from './chat-helpers';
import { startFakeUpstream, DEFAULT_PIECES, type FakeUpstream } from './fake-upstream';
import { startTestServer, type TestServer } from './helpers';

let fake: FakeUpstream;
let srv: TestServer;

beforeAll(async () => {
  fake = await startFakeUpstream();
  srv = await startTestServer({
    OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, LOGIN_RATE_LIMIT_PER_IP: '10000',
    API_IN_FLIGHT_PER_USER: '60', API_IN_FLIGHT_PER_KEY: '60', UPSTREAM_CONCURRENCY: '64', QUEUE_MAX_WAITING: '200',
  });
});
afterAll(async () => {
  await srv.close();
  await fake.close();
});
afterEach(async () => {
  fake.clear();
  expect(await srv.database.read(verifyLedger, 3_600_000)).toEqual([]);
});

const NO_LIMITS: NewKey = { name: 'laptop', models: null, perDay: null, total: null, expiresAt: null };

async function keyFor(user: User, opts: Partial<NewKey> = {}): Promise<{ key: string; id: number }> {
  return srv.database.write(createKey, user.id, { ...NO_LIMITS, ...opts }, generateKey());
}

/** The official client; `counted.sent` counts the HTTP requests it makes (so a retry would show). */
function client(key: string, maxRetries = 2, counted = { sent: 0 }): OpenAI {
  return new OpenAI({
    apiKey: key, baseURL: `${srv.url}/v1`, maxRetries,
    fetch: (url, init) => {
      counted.sent++;
      return fetch(url, init);
    },
  });
}

const balance = (user: User) => srv.database.read(balanceOf, user.id);
const lastHold = (user: User) =>
  srv.sql.get<{ charge: number; prompt: number; completion: number; source: string; outcome: string; key: number | null; state: string }>(
    `SELECT charge, used_prompt_tokens AS prompt, completion_tokens AS completion, source, outcome, api_key_id AS key, state
     FROM holds WHERE user_id = ? ORDER BY id DESC LIMIT 1`, user.id);
const ask = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Say hello.' }], max_tokens: 50 };

describe('POST /v1/chat/completions', () => {
  test('non-streamed: the answer in OpenAI\'s shape, charged the provider\'s usage on the key', async () => {
    const user = await newUser(srv);
    const { key, id } = await keyFor(user);
    fake.script({ kind: 'stream', usage: { prompt_tokens: 12, completion_tokens: 6 } });
    const done = await client(key).chat.completions.create(ask);
    expect(done.object).toBe('chat.completion');
    expect(done.choices[0]!.message.content).toBe(DEFAULT_PIECES.join(''));
    expect(done.choices[0]!.finish_reason).toBe('stop');
    expect(done.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 });
    expect(await lastHold(user)).toMatchObject({ charge: 12 + 6 * 4, source: 'reported', outcome: 'ok', key: id, state: 'settled' });
    expect(await balance(user)).toBe(2000 - 36);
    // What went upstream: the client's request, streamed with usage asked for, max_tokens as held.
    const sent = fake.requests.at(-1)!.body;
    expect(sent).toMatchObject({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, max_tokens: 50 });
  });

  test('streamed without include_usage: no usage chunk reaches the client; with it, the final chunk has empty choices', async () => {
    const user = await newUser(srv);
    const { key } = await keyFor(user);
    fake.script({ kind: 'stream' });
    const plain: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of await client(key).chat.completions.create({ ...ask, stream: true })) plain.push(chunk);
    expect(plain.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(DEFAULT_PIECES.join(''));
    expect(plain.every((c) => c.choices.length > 0 && !c.usage)).toBe(true);

    fake.script({ kind: 'stream', usage: { prompt_tokens: 9, completion_tokens: 6 } });
    const withUsage: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of await client(key).chat.completions.create({ ...ask, stream: true, stream_options: { include_usage: true } })) withUsage.push(chunk);
    expect(withUsage.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 6 } });
  });

  test('tools: streamed tool_calls keep their index; non-streamed ones are joined; arguments are charged', async () => {
    const user = await newUser(srv);
    const { key } = await keyFor(user);
    const tools = [{ type: 'function' as const, function: { name: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const toolCalls = [{ id: 'call_1', name: 'weather', arguments: ['{"ci', 'ty": "Par', 'is"}'] }, { id: 'call_2', name: 'weather', arguments: ['{"city": "Oslo"}'] }];
    fake.script({ kind: 'stream', pieces: [], toolCalls, finishReason: 'tool_calls', usage: false });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of await client(key).chat.completions.create({ ...ask, tools, stream: true })) chunks.push(chunk);
    const pieces = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(pieces.filter((p) => p.index === 1).map((p) => p.function?.arguments).join('')).toBe('{"city": "Oslo"}');

    fake.script({ kind: 'stream', pieces: [], toolCalls, finishReason: 'tool_calls', usage: false });
    const done = await client(key).chat.completions.create({ ...ask, tools });
    expect(done.choices[0]!.finish_reason).toBe('tool_calls');
    expect(done.choices[0]!.message.tool_calls).toEqual([
      { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city": "Paris"}' } },
      { id: 'call_2', type: 'function', function: { name: 'weather', arguments: '{"city": "Oslo"}' } },
    ]);
    // No usage from the provider: the local count, which includes the tools in the prompt and the calls in the completion.
    const hold = await lastHold(user);
    expect(hold).toMatchObject({ source: 'estimated', outcome: 'ok' });
    expect(hold!.completion).toBeGreaterThan(10);
    expect(hold!.prompt).toBeGreaterThan(20);
    const sent = fake.requests.at(-1)!.body;
    expect(sent.tools).toEqual(tools);
  });

  test('a client that goes away mid-stream stops the call and is charged the prompt plus what was delivered', async () => {
    const user = await newUser(srv);
    const { key } = await keyFor(user);
    fake.script({ kind: 'stream', pieces: Array.from({ length: 200 }, () => ' word'), delayMs: 10 });
    const controller = new AbortController();
    const stream = await client(key).chat.completions.create({ ...ask, max_tokens: 500, stream: true }, { signal: controller.signal });
    let got = 0;
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content) got++;
        if (got < 5) continue;
        // Gone: it reads no more. (Without the break, the SDK may still hand over pieces that came
        // in the same read as the fifth, under load.)
        controller.abort();
        break;
      }
    } catch (err) {
      expect((err as Error).name).toMatch(/Abort/);
    }
    expect(got).toBe(5);
    expect(await fake.requests.at(-1)!.closed).toBe(true); // the upstream call was ended too
    await until(async () => (await lastHold(user))?.state === 'settled');
    const hold = await lastHold(user);
    expect(hold).toMatchObject({ outcome: 'stopped', source: 'estimated' });
    expect(hold!.completion).toBeGreaterThanOrEqual(5);
    expect(hold!.completion).toBeLessThan(200);
    expect(hold!.charge).toBe(hold!.prompt + 4 * hold!.completion);
  });

  test('an empty balance is a 402 that reaches the server once: the SDK does not retry it', async () => {
    const user = await newUser(srv);
    await grant(srv.database, user.id, -2000);
    const { key } = await keyFor(user);
    const counted = { sent: 0 };
    const upstreamBefore = fake.requests.length;
    const err = await client(key, 2, counted).chat.completions.create(ask).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(402);
    expect((err as APIError).code).toBe('insufficient_quota');
    expect(counted.sent).toBe(1);
    expect(fake.requests.length).toBe(upstreamBefore);
  });

  test('a revoked key fails with 401 on its next request; a disabled user\'s keys too', async () => {
    const user = await newUser(srv);
    const { key, id } = await keyFor(user);
    fake.script({ kind: 'stream' });
    await client(key).chat.completions.create(ask);
    await srv.database.write(revokeKey, id, user.id, new Date().toISOString());
    await expect(client(key).chat.completions.create(ask)).rejects.toBeInstanceOf(OpenAI.AuthenticationError);

    const other = await newUser(srv);
    const second = await keyFor(other);
    await srv.database.write(setDisabled, null, other.id, true);
    await expect(client(second.key).models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  test('a model the key may not use is a 403; an unknown one a 404; /v1/models lists only the allowed', async () => {
    const user = await newUser(srv);
    const { key } = await keyFor(user, { models: ['gpt-4o-mini'] });
    await expect(client(key).chat.completions.create({ ...ask, model: 'gpt-4o' })).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
    await expect(client(key).chat.completions.create({ ...ask, model: 'no-such-model' })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const listed = [];
    for await (const m of client(key).models.list()) listed.push(m.id);
    expect(listed).toEqual(['gpt-4o-mini']);
    expect((await client(key).models.retrieve('gpt-4o-mini')).id).toBe('gpt-4o-mini');
    await expect(client(key).models.retrieve('gpt-4o')).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
  });

  test.each([
    [{ service_tier: 'priority' }, 'service_tier'],
    [{ web_search_options: {} }, 'web_search_options'],
    [{ n: 2 }, 'n'],
    [{ some_new_field: 1 }, 'some_new_field'],
  ])('%j is refused with a 400 naming the field, and nothing is charged', async (extra, param) => {
    const user = await newUser(srv);
    const { key } = await keyFor(user);
    const err = (await client(key).chat.completions.create({ ...ask, ...extra } as never).catch((e: unknown) => e)) as APIError;
    expect(err.status).toBe(400);
    expect(err.param).toBe(param);
    expect(await balance(user)).toBe(2000);
  });

  test('content the meter cannot count (a file, audio) is refused naming the part; images are held at the model\'s image price', async () => {
    const user = await newUser(srv);
    const { key } = await keyFor(user);
    const file = { role: 'user' as const, content: [{ type: 'text', text: 'Summarise:' }, { type: 'file', file: { file_data: 'data:application/pdf;base64,AAAA' } }] };
    const refused = (await client(key).chat.completions.create({ ...ask, messages: [file] } as never).catch((e: unknown) => e)) as APIError;
    expect([refused.status, refused.code, refused.param]).toEqual([400, 'unsupported_content', 'messages.0.content.1.type']);
    // gpt-4o-mini bills an image as up to 48,169 tokens (the models file says): 2,000 tokens cannot hold one.
    const image = { role: 'user' as const, content: [{ type: 'text' as const, text: 'What is this?' }, { type: 'image_url' as const, image_url: { url: 'data:image/png;base64,AAAA' } }] };
    const poor = (await client(key).chat.completions.create({ ...ask, messages: [image] }).catch((e: unknown) => e)) as APIError;
    expect(poor.status).toBe(402);
    await grant(srv.database, user.id, 100_000);
    fake.script({ kind: 'stream', usage: false });
    await client(key).chat.completions.create({ ...ask, messages: [image] });
    expect((await lastHold(user))!.prompt).toBeGreaterThan(48_169);
  });

  test('reasoning text a provider streams beside the answer is relayed and counted', async () => {
    const user = await newUser(srv);
    const { key } = await keyFor(user);
    const thoughts = Array.from({ length: 30 }, () => ' thinking hard');
    fake.script({ kind: 'stream', reasoning: thoughts, usage: false });
    const done = await client(key).chat.completions.create({ ...ask, max_tokens: 500 });
    expect((done.choices[0]!.message as unknown as { reasoning_content: string }).reasoning_content).toBe(thoughts.join(''));
    const hold = await lastHold(user);
    expect(hold!.completion).toBeGreaterThanOrEqual(60 + 6); // the reasoning's tokens and the answer's
    // And it counts toward max_tokens: 50 cuts it there.
    fake.script({ kind: 'stream', reasoning: thoughts, usage: false });
    const cut = await client(key).chat.completions.create(ask);
    expect(cut.choices[0]!.finish_reason).toBe('length');
    expect((await lastHold(user))!.completion).toBeLessThanOrEqual(50);
  });

  test('no key, a made-up key or a session cookie: 401 in OpenAI\'s shape', async () => {
    const user = await newUser(srv);
    const res = await user.agent.get('/v1/models'); // signed in to the pages
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: 'missing_api_key' } });
    expect(res.headers['x-request-id']).toBeTruthy();
    const made = await fetch(`${srv.url}/v1/models`, { headers: { authorization: `Bearer ${generateKey()}` } });
    expect(made.status).toBe(401);
    expect(((await made.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');
  });

  test('a provider reporting more than was held is charged the hold at most; one ignoring max_tokens is cut at it', async () => {
    const user = await newUser(srv);
    const { key } = await keyFor(user);
    fake.script({ kind: 'stream', usage: { prompt_tokens: 10, completion_tokens: 100_000 } });
    await client(key).chat.completions.create({ ...ask, max_tokens: 10 });
    const over = await lastHold(user);
    const amount = await srv.sql.value<number>('SELECT amount FROM holds WHERE user_id = ? ORDER BY id DESC LIMIT 1', user.id);
    expect(over!.charge).toBe(Number(amount)); // the hold, not 400,010

    fake.script({ kind: 'stream', pieces: Array.from({ length: 40 }, (_, i) => ` word${i}`), usage: false });
    const done = await client(key).chat.completions.create({ ...ask, max_tokens: 8 });
    expect(done.choices[0]!.finish_reason).toBe('length');
    const cut = await lastHold(user);
    expect(cut!.completion).toBeLessThanOrEqual(8);
  });

  test("a key's own spend limit sizes the hold and then refuses with 402, while the user's other keys go on", async () => {
    const user = await newUser(srv);
    const limited = await keyFor(user, { total: 200 });
    fake.script({ kind: 'stream', usage: { prompt_tokens: 10, completion_tokens: 40 } });
    await client(limited.key).chat.completions.create({ ...ask, max_tokens: 500 });
    // The hold was what the key's 200 pays for in whole completion tokens, not prompt + 500 of them.
    const held = Number(await srv.sql.value<number>('SELECT amount FROM holds WHERE user_id = ? ORDER BY id DESC LIMIT 1', user.id));
    expect(held).toBeGreaterThan(195);
    expect(held).toBeLessThanOrEqual(200);
    // 170 spent: the 30 left do not pay for the prompt and MIN_COMPLETION_TOKENS of answer.
    const err = (await client(limited.key).chat.completions.create(ask).catch((e: unknown) => e)) as APIError;
    expect(err.status).toBe(402);
    expect(err.code).toBe('spend_limit_reached');
    const other = await keyFor(user);
    fake.script({ kind: 'stream' });
    expect((await client(other.key).chat.completions.create(ask)).choices[0]!.message.content).toBe(DEFAULT_PIECES.join(''));
  });

  test("a key's requests and tokens per minute: beyond them 429 with Retry-After, counted in the database", async () => {
    const user = await newUser(srv);
    const perMinute = await keyFor(user, { rpm: 2 });
    fake.script([{ kind: 'stream' }, { kind: 'stream' }]);
    await client(perMinute.key, 0).chat.completions.create(ask);
    await client(perMinute.key, 0).chat.completions.create(ask);
    const third = (await client(perMinute.key, 0).chat.completions.create(ask).catch((e: unknown) => e)) as APIError;
    expect(third.status).toBe(429);
    expect(third.code).toBe('rpm_limit_reached');
    expect(Number(third.headers?.get('retry-after'))).toBeGreaterThan(0);

    const tokens = await keyFor(user, { tpm: 80 }); // the prompt and 50 fit; after 40 used, not the prompt and 32 more
    fake.script({ kind: 'stream', usage: { prompt_tokens: 20, completion_tokens: 20 } });
    await client(tokens.key, 0).chat.completions.create(ask);
    const over = (await client(tokens.key, 0).chat.completions.create(ask).catch((e: unknown) => e)) as APIError;
    expect(over.status).toBe(429);
    expect(over.code).toBe('tpm_limit_reached');
  });

  test('a provider that drops the stream mid-answer: the client gets an error event, charged prompt + what it was sent', async () => {
    const user = await newUser(srv);
    const { key } = await keyFor(user);
    fake.script({ kind: 'stream', pieces: ['One', ' two', ' three', ' four'], dropAfter: 2, usage: false });
    const got: string[] = [];
    const err = await (async () => {
      for await (const chunk of await client(key, 0).chat.completions.create({ ...ask, stream: true })) got.push(chunk.choices[0]?.delta.content ?? '');
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect(got.join('')).toBe('One two');
    const hold = await lastHold(user);
    expect(hold).toMatchObject({ outcome: 'error', source: 'estimated', completion: 2 });
    expect(hold!.charge).toBe(hold!.prompt + 4 * 2);
  });

  test('an expired key is a 401', async () => {
    const user = await newUser(srv);
    const { key } = await keyFor(user, { expiresAt: new Date(Date.now() - 1000) });
    const err = (await client(key).models.list().catch((e: unknown) => e)) as APIError;
    expect(err.status).toBe(401);
    expect(err.message).toContain('expired');
  });

  test('an upstream error before any output charges nothing', async () => {
    const user = await newUser(srv);
    const { key } = await keyFor(user);
    fake.script({ kind: 'error', status: 500 });
    const err = (await client(key, 0).chat.completions.create(ask).catch((e: unknown) => e)) as APIError;
    expect(err.status).toBe(502);
    expect(await lastHold(user)).toMatchObject({ state: 'released', charge: 0 });
    expect(await balance(user)).toBe(2000);
  });

  test('50 streamed calls at once on one key never overspend, and the ledger adds up', async () => {
    const user = await newUser(srv);
    await grant(srv.database, user.id, -1000); // 1000 left: not enough for all of them
    const { key } = await keyFor(user);
    fake.script(Array.from({ length: 50 }, () => ({ kind: 'stream' as const, delayMs: 5 })));
    const c = client(key, 0);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, async () => {
        let text = '';
        for await (const chunk of await c.chat.completions.create({ ...ask, max_tokens: 20, stream: true })) text += chunk.choices[0]?.delta.content ?? '';
        return text;
      }),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r.reason as APIError).status);
    expect(ok.length).toBeGreaterThan(0);
    expect(refused.every((s) => s === 402)).toBe(true);
    const left = await balance(user);
    expect(left).toBeGreaterThanOrEqual(0);
    const charged = await srv.sql.value<number>('SELECT coalesce(sum(charge), 0) FROM holds WHERE user_id = ?', user.id);
    expect(left).toBe(1000 - Number(charged));
  });

  test('a chat page turn and an API call spend from one balance', async () => {
    const user = await newUser(srv);
    const { key } = await keyFor(user);
    fake.script({ kind: 'stream', usage: { prompt_tokens: 10, completion_tokens: 5 } });
    await client(key).chat.completions.create(ask);
    const afterApi = await balance(user);
    expect(afterApi).toBe(2000 - 30);
    fake.script({ kind: 'stream', usage: { prompt_tokens: 20, completion_tokens: 5 } });
    const send = post(user, '/send', await composer(user, '/', 'Hello from the page'));
    expect((await send).status).toBe(200);
    expect(await balance(user)).toBe(afterApi - 40);
    // Both in the ledger, each with its hold; only the API call names a key.
    const holds = await db(srv).holds(user);
    expect(holds.map((h) => [h.charge, h.api_key_id === null])).toEqual([[30, false], [40, true]]);
    // The ledger page and its CSV say which charge came through which key.
    expect((await user.agent.get('/usage/ledger')).text).toContain('API key “laptop”');
    const usage = (await user.agent.get('/usage')).text;
    expect(usage).toMatch(/<th scope="row">Chat page<\/th><td class="num">1<\/td><td class="num">40<\/td>/);
    expect(usage).toMatch(/<th scope="row">API key “laptop”<\/th><td class="num">1<\/td><td class="num">30<\/td>/);
    expect((await user.agent.get('/dashboard').set('HX-Request', 'true')).text).toContain('(30 by API keys)');
    const csv = (await user.agent.get('/usage/ledger.csv')).text;
    expect(csv.split('\n').find((line) => line.includes(',settle,'))).toContain(',laptop,');
  });
});

async function until(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('POST /v1/embeddings', () => {
  test('embeddings are charged by input tokens at the model\'s rate, the provider\'s count settling', async () => {
    const user = await newUser(srv);
    const { key, id } = await keyFor(user);
    const got = await client(key).embeddings.create({ model: 'text-embedding-3-small', input: ['first text', 'second text'] });
    expect(got.data.map((d) => d.embedding)).toEqual([[0.25, -0.5, 0.75], [0.25, -0.5, 0.75]]);
    expect(got.usage).toEqual({ prompt_tokens: 6, total_tokens: 6 });
    // 6 tokens at 0.133333 each: 0.8, charged as 1 (the ceiling, as every charge).
    expect(await lastHold(user)).toMatchObject({ charge: 1, prompt: 6, completion: 0, source: 'reported', key: id, state: 'settled' });
    expect(await balance(user)).toBe(1999);
  });

  test('an embedding model is refused on chat completions and a chat model on embeddings; both are listed', async () => {
    const user = await newUser(srv);
    const { key } = await keyFor(user);
    const chat = (await client(key).chat.completions.create({ ...ask, model: 'text-embedding-3-small' }).catch((e: unknown) => e)) as APIError;
    expect([chat.status, chat.code]).toEqual([400, 'model_not_supported']);
    const embed = (await client(key).embeddings.create({ model: 'gpt-4o-mini', input: 'x' }).catch((e: unknown) => e)) as APIError;
    expect([embed.status, embed.code]).toEqual([400, 'model_not_supported']);
    const listed = [];
    for await (const m of client(key).models.list()) listed.push(m.id);
    expect(listed).toEqual(expect.arrayContaining(['gpt-4o-mini', 'text-embedding-3-small']));
    // The chat page offers chat models only.
    expect((await user.agent.get('/')).text).not.toContain('text-embedding-3-small');
  });

  test('an input past the model\'s window is a 400 and an empty balance a 402; neither reaches the provider', async () => {
    const user = await newUser(srv);
    const { key } = await keyFor(user);
    const before = fake.requests.length;
    const long = (await client(key).embeddings.create({ model: 'text-embedding-3-small', input: Array.from({ length: 9000 }, () => 1) }).catch((e: unknown) => e)) as APIError;
    expect([long.status, long.code]).toEqual([400, 'context_length_exceeded']);
    await grant(srv.database, user.id, -2000);
    const broke = (await client(key).embeddings.create({ model: 'text-embedding-3-small', input: 'hello' }).catch((e: unknown) => e)) as APIError;
    expect(broke.status).toBe(402);
    expect(fake.requests.length).toBe(before);
  });
});

describe('logs', () => {
  test('keys are never logged: not on a good call, a refused one, or a server error', async () => {
    const lines: string[] = [];
    const pino = (await import('pino')).default;
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    const logged = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, LOGIN_RATE_LIMIT_PER_IP: '10000' }, { logger });
    try {
      const user = await newUser(logged);
      const { key, id } = await logged.database.write(createKey, user.id, NO_LIMITS, generateKey());
      const c = new OpenAI({ apiKey: key, baseURL: `${logged.url}/v1`, maxRetries: 0 });
      fake.script({ kind: 'stream' });
      await c.chat.completions.create(ask);
      fake.script({ kind: 'error', status: 500 });
      await c.chat.completions.create(ask).catch(() => undefined);
      await c.chat.completions.create({ ...ask, model: 'nope' }).catch(() => undefined);
      await logged.database.write(revokeKey, id, user.id, new Date().toISOString());
      await c.models.list().catch(() => undefined);
      await fetch(`${logged.url}/v1/models`, { headers: { authorization: `Bearer ${key}x` } });
      const text = lines.join('');
      expect(lines.length).toBeGreaterThan(5);
      expect(text).toContain('/v1/chat/completions');
      expect(text).not.toContain(key.slice(3)); // not the key, nor its random part
      expect(text).not.toContain('sk-test');
    } finally {
      await logged.close();
    }
  });
});

describe('a model silent for long', () => {
  test('the stream starts anyway with comment lines, so a proxy does not time it out; the answer follows', async () => {
    const express = (await import('express')).default;
    const { v1Routes } = await import('../src/http/routes/v1');
    const { createUpstream } = await import('../src/upstream/router');
    const { TurnQueue } = await import('../src/chat/turn-queue');
    const { loadModels, Offer, servedModels } = await import('../src/metering/models');
    const { createLogger } = await import('../src/log');
    const app = express().use('/v1', v1Routes({
      store: srv.database, upstream: createUpstream({ apiKey: 'sk-test', baseURL: fake.url, timeoutMs: 5000 }), queue: new TurnQueue({ perUser: 10, global: 10, maxWaiting: 10 }),
      logger: createLogger('silent'), offer: new Offer(servedModels(loadModels(), false)), perUser: 10, perKey: 10, bodyLimitBytes: 1 << 20, silentStartMs: 50, running: new RunningTurns(),
    }));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const user = await newUser(srv);
      const { key } = await keyFor(user);
      fake.script({ kind: 'stream', firstDelayMs: 400 });
      const res = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/v1/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ ...ask, stream: true }),
      });
      expect(res.status).toBe(200); // headers came while the model was still silent
      const text = await res.text();
      expect(text.startsWith(': waiting for the model\n\n')).toBe(true);
      expect(text).toContain('"content":"Hello"');
      expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    } finally {
      server.close();
    }
  });
});
