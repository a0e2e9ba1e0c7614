// Several providers: the models file's providers section, routing each model to its providers in
// order, failover before any output (never after), the circuit breaker, cached-prompt pricing,
// providers' quirks, the admin Providers page and its reload, and keys that never leak.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import OpenAI from 'openai';
import pino from 'pino';
import { createKey, generateKey } from '../src/accounts/api-keys';
import { loadModels, ModelsFileError, priceOf } from '../src/metering/models';
import { routingFor } from '../src/upstream/providers';
import { Router } from '../src/upstream/router';
import type { StreamEvent, StreamRequest } from '../src/upstream/client';
import { UpstreamError } from '../src/upstream/errors';
import { composer, db, newUser, openStream, post, until, type User } from './chat-helpers';
import { gate, startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { csrfFrom, ON_POSTGRES, startTestServer, tempDir, type TestServer } from './helpers';

const KEY_A = 'sk-provider-a-secret-0123456789abcdef';
const KEY_B = 'sk-provider-b-secret-fedcba9876543210';

let a: FakeUpstream;
let b: FakeUpstream;
let dead: string; // a base URL nothing listens on: connections are refused
beforeAll(async () => {
  [a, b] = await Promise.all([startFakeUpstream(), startFakeUpstream()]);
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  dead = `http://127.0.0.1:${(probe.address() as net.AddressInfo).port}/v1`;
  await new Promise((resolve) => probe.close(resolve));
});
afterAll(() => Promise.all([a.close(), b.close()]));
beforeEach(() => {
  for (const f of [a, b]) {
    f.clear();
    f.requests.splice(0);
  }
});

const dir = tempDir();
let fileSeq = 0;
/** A models file with providers "a" and "b" (by default), written to a temp file. */
function modelsFile(extra: { providers?: unknown[]; models?: unknown[] } = {}): string {
  const file = path.join(dir, `models-${++fileSeq}.json`);
  fs.writeFileSync(file, JSON.stringify({
    version: 1,
    providers: extra.providers ?? [
      { id: 'a', name: 'Provider A', base_url: a.url, api_key_env: 'A_KEY' },
      { id: 'b', name: 'Provider B', base_url: b.url, api_key_env: 'B_KEY', stream_options: false },
    ],
    models: extra.models ?? [
      {
        id: 'chat-1', name: 'Chat one', encoding: 'o200k_base', context_window: 32000, prompt_rate: 2, cached_prompt_rate: 0.5, completion_rate: 4,
        providers: ['a', { provider: 'b', model: 'vendor/chat-1-b' }],
      },
      { id: 'only-b', name: 'Only B', encoding: 'cl100k_base', context_window: 32000, prompt_rate: 1, completion_rate: 1, providers: ['b'] },
      // A model whose provider counts with a tokenizer of its own: the hold counts 20% more than tiktoken.
      { id: 'guess-1', name: 'Guess one', encoding: 'o200k_base', estimate_margin: 20, context_window: 32000, prompt_rate: 2, completion_rate: 4, providers: ['a'] },
      { id: 'embed-1', name: 'Embed one', kind: 'embedding', encoding: 'cl100k_base', context_window: 8191, prompt_rate: 0.1, completion_rate: 0, providers: ['a', 'b'] },
    ],
  }));
  return file;
}

const KEYS = { openaiApiKey: undefined, openaiBaseUrl: undefined, keyOf: (name: string) => ({ A_KEY: KEY_A, B_KEY: KEY_B })[name] };

function routerFor(file: string, breaker = { failures: 2, cooldownMs: 60_000 }, now?: () => number) {
  const routing = routingFor(loadModels(file), KEYS, { timeoutMs: 5000 }, file);
  return { routing, router: new Router(routing.table, { timeoutMs: 5000, breaker, ...(now && { now }) }) };
}

const ask = (extra: Partial<StreamRequest> = {}): StreamRequest => ({
  model: 'chat-1', messages: [{ role: 'user', content: 'Hello?' }], maxTokens: 50, signal: new AbortController().signal, ...extra,
});

async function collect(events: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}
const textOf = (events: StreamEvent[]) => events.map((e) => (e.type === 'delta' ? e.text : '')).join('');

// ---- the models file ---------------------------------------------------------------------------

describe('the providers section of the models file', () => {
  test('a bad file stops start-up naming the field', () => {
    const refuses = (extra: Parameters<typeof modelsFile>[0], message: string | RegExp) => {
      const file = modelsFile(extra);
      expect(() => routingFor(loadModels(file), KEYS, { timeoutMs: 1000 }, file)).toThrow(ModelsFileError);
      expect(() => routingFor(loadModels(file), KEYS, { timeoutMs: 1000 }, file)).toThrow(message);
    };
    const model = { id: 'm', name: 'M', encoding: 'o200k_base', context_window: 1000, prompt_rate: 1, completion_rate: 1 };
    refuses({ models: [{ ...model, providers: ['nobody'] }] }, 'models.0.providers.0 names provider "nobody", which the providers list does not have');
    refuses({ providers: [{ id: 'a', base_url: a.url }, { id: 'a', base_url: b.url }], models: [{ ...model, providers: ['a'] }] }, 'providers.1.id "a" is listed twice');
    refuses({ providers: [{ id: 'a', base_url: a.url, api_key_env: 'NOT_SET_ANYWHERE' }], models: [{ ...model, providers: ['a'] }] }, 'providers.0.api_key_env names NOT_SET_ANYWHERE, which is not set');
    refuses({ providers: [{ id: 'a', base_url: a.url }], models: [model] }, /models\.0\.providers is missing: "m" names no provider/);
    refuses({ providers: [{ id: 'a', base_url: 'ftp://x' }], models: [model] }, 'providers.0.base_url must be an http(s) URL');
    refuses({ providers: [{ id: 'a', base_url: a.url, api_key: KEY_A }], models: [model] }, /providers\.0.*api_key/);
    // The message names the variable, never a key.
    const file = modelsFile({ providers: [{ id: 'a', base_url: a.url, api_key_env: 'A_KEY' }, { id: 'b', base_url: b.url, api_key_env: 'MISSING_KEY' }], models: [{ ...model, providers: ['a'] }] });
    try {
      routingFor(loadModels(file), KEYS, { timeoutMs: 1000 }, file);
      throw new Error('accepted');
    } catch (err) {
      expect((err as Error).message).toContain('MISSING_KEY');
      expect((err as Error).message).not.toContain(KEY_A);
    }
  });

  test('OPENAI_API_KEY alone is one implicit provider, "openai", for every model without providers', () => {
    const routing = routingFor(loadModels(), { openaiApiKey: 'sk-x', openaiBaseUrl: a.url, keyOf: () => undefined }, { timeoutMs: 1000 }, 'models.json');
    expect(routing.demo).toBe(false);
    expect(routing.table.clients.map((c) => [c.spec.id, c.spec.baseURL])).toEqual([['openai', a.url]]);
    expect(routing.table.fallback).toBe('openai');
    expect(routing.served.find('demo')).toBeUndefined();
    // Without it, and no providers: the demo model alone.
    const demo = routingFor(loadModels(), { openaiApiKey: undefined, openaiBaseUrl: undefined, keyOf: () => undefined }, { timeoutMs: 1000 }, 'models.json');
    expect(demo.demo).toBe(true);
    expect(demo.served.models.map((m) => m.id)).toEqual(['demo']);
  });

  test('models.example.json loads, with a key for every provider it names', () => {
    const file = path.join(__dirname, '..', 'models.example.json');
    const catalog = loadModels(file);
    const routing = routingFor(catalog, { openaiApiKey: undefined, openaiBaseUrl: undefined, keyOf: (name) => `key-of-${name}` }, { timeoutMs: 1000 }, file);
    const ids = catalog.providers.map((p) => p.id);
    expect(ids).toEqual(expect.arrayContaining(['openai', 'deepseek', 'dashscope', 'moonshot', 'zhipu', 'ollama']));
    expect(catalog.providers.find((p) => p.id === 'ollama')!.apiKeyEnv).toBeUndefined();
    // Every model is served by at least one provider, and no file holds a key.
    for (const m of routing.served.models) expect(m.routes.length).toBeGreaterThan(0);
    expect(fs.readFileSync(file, 'utf8')).not.toMatch(/sk-[A-Za-z0-9]{8,}/);
  });
});

// ---- routing and failover ----------------------------------------------------------------------

describe('failover between providers', () => {
  test.each([
    ['a 500', () => a.script({ kind: 'error', status: 500 })],
    ['a 429', () => a.script({ kind: 'error', status: 429, headers: { 'retry-after': '3' } })],
    ['a 401 (its key refused)', () => a.script({ kind: 'error', status: 401 })],
    ['an error event', () => a.script({ kind: 'stream', pieces: [], streamError: { message: 'overloaded' } })],
  ])('%s before any output moves the call to the next provider, under its name there', async (_what, fail) => {
    const { router } = routerFor(modelsFile());
    fail();
    b.script({ kind: 'stream', pieces: ['From', ' B'] });
    const served: string[] = [];
    const events = await collect(router.stream(ask({ onProvider: (s) => served.push(`${s.provider}:${s.model}`) })));
    expect(textOf(events)).toBe('From B');
    expect(served).toEqual(['a:chat-1', 'b:vendor/chat-1-b']);
    expect(a.requests).toHaveLength(1);
    expect(b.requests).toHaveLength(1);
    expect(b.requests[0]!.body.model).toBe('vendor/chat-1-b');
  });

  test('a refused connection moves the call on too', async () => {
    const file = modelsFile({
      providers: [{ id: 'gone', base_url: dead }, { id: 'b', base_url: b.url, api_key_env: 'B_KEY' }],
      models: [{ id: 'chat-1', name: 'C', encoding: 'o200k_base', context_window: 1000, prompt_rate: 1, completion_rate: 1, providers: ['gone', 'b'] }],
    });
    const { router } = routerFor(file);
    const events = await collect(router.stream(ask()));
    expect(textOf(events)).toBe('Hello from the fake upstream.');
    expect(b.requests).toHaveLength(1);
  });

  test('a failure after the first token never moves: the error says output went out, and B is not asked', async () => {
    const { router } = routerFor(modelsFile());
    a.script({ kind: 'stream', pieces: ['One', ' two', ' three'], dropAfter: 2 });
    const seen: string[] = [];
    let failure: unknown;
    try {
      for await (const e of router.stream(ask())) if (e.type === 'delta') seen.push(e.text);
    } catch (err) {
      failure = err;
    }
    expect(seen.join('')).toBe('One two');
    expect(failure).toBeInstanceOf(UpstreamError);
    expect((failure as UpstreamError).midStream).toBe(true);
    expect(b.requests).toHaveLength(0);
  });

  test('once the caller stopped, a failure (of a stopped answer read on for its usage) starts no other provider', async () => {
    const { router } = routerFor(modelsFile());
    const stop = new AbortController();
    stop.abort();
    a.script({ kind: 'error', status: 500 });
    await expect(collect(router.stream(ask({ stop: stop.signal })))).rejects.toMatchObject({ kind: 'server' });
    expect(b.requests).toHaveLength(0);
  });

  test('a request the provider refuses as invalid (400) is not tried elsewhere', async () => {
    const { router } = routerFor(modelsFile());
    a.script({ kind: 'error', status: 400, message: 'bad temperature' });
    await expect(collect(router.stream(ask()))).rejects.toMatchObject({ kind: 'bad_request' });
    expect(b.requests).toHaveLength(0);
  });

  test('when every provider fails, the last failure is the answer', async () => {
    const { router } = routerFor(modelsFile());
    a.script({ kind: 'error', status: 500 });
    b.script({ kind: 'error', status: 503 });
    await expect(collect(router.stream(ask()))).rejects.toMatchObject({ kind: 'server', status: 503, midStream: false });
  });

  test('stream_options goes only to a provider that takes it; each gets its own limit parameter', async () => {
    const file = modelsFile({
      providers: [
        { id: 'a', base_url: a.url, api_key_env: 'A_KEY', max_tokens_param: 'max_completion_tokens' },
        { id: 'b', base_url: b.url, api_key_env: 'B_KEY', stream_options: false },
      ],
    });
    const { router } = routerFor(file);
    a.script({ kind: 'error', status: 502 });
    await collect(router.stream(ask({ maxTokens: 77 })));
    expect(a.requests[0]!.body).toMatchObject({ stream: true, stream_options: { include_usage: true }, max_completion_tokens: 77 });
    expect(a.requests[0]!.body).not.toHaveProperty('max_tokens');
    expect(b.requests[0]!.body).not.toHaveProperty('stream_options');
    expect(b.requests[0]!.body).toMatchObject({ stream: true, max_tokens: 77 });
    // Each provider gets its own key, never the other's.
    expect(a.requests[0]!.headers.authorization).toBe(`Bearer ${KEY_A}`);
    expect(b.requests[0]!.headers.authorization).toBe(`Bearer ${KEY_B}`);
  });

  test('cached tokens are read from OpenAI, DeepSeek and Moonshot usage, never above the prompt', async () => {
    const { router } = routerFor(modelsFile());
    const usages = [
      { prompt_tokens: 100, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 64 }, completion_tokens_details: { reasoning_tokens: 3 } },
      { prompt_tokens: 100, completion_tokens: 5, prompt_cache_hit_tokens: 40, prompt_cache_miss_tokens: 60 },
      { prompt_tokens: 100, completion_tokens: 5, cached_tokens: 30 },
      { prompt_tokens: 100, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 1000 } },
    ];
    const seen = [];
    for (const usage of usages) {
      a.script({ kind: 'stream', usage });
      seen.push((await collect(router.stream(ask()))).find((e) => e.type === 'usage'));
    }
    expect(seen).toEqual([
      { type: 'usage', promptTokens: 100, completionTokens: 5, cachedTokens: 64, reasoningTokens: 3 },
      { type: 'usage', promptTokens: 100, completionTokens: 5, cachedTokens: 40 },
      { type: 'usage', promptTokens: 100, completionTokens: 5, cachedTokens: 30 },
      { type: 'usage', promptTokens: 100, completionTokens: 5, cachedTokens: 100 },
    ]);
  });
});

describe('the circuit breaker', () => {
  test('a provider failing again and again is skipped for the cool-down, then one call tries it, and a success restores it', async () => {
    let clock = 1_000_000;
    const { router } = routerFor(modelsFile(), { failures: 2, cooldownMs: 30_000 }, () => clock);
    for (let i = 0; i < 2; i++) {
      a.script({ kind: 'error', status: 500 });
      expect(textOf(await collect(router.stream(ask())))).toBe('Hello from the fake upstream.');
    }
    expect(a.requests).toHaveLength(2);
    expect(router.status().find((p) => p.id === 'a')).toMatchObject({ state: 'cooling', retryAt: clock + 30_000, failuresInARow: 2, lastError: { kind: 'server', status: 500 } });
    // Open: A is not asked at all.
    await collect(router.stream(ask()));
    await collect(router.stream(ask()));
    expect(a.requests).toHaveLength(2);
    expect(b.requests).toHaveLength(4);
    // The cool-down over, one call tries A again; it answers, and A is healthy.
    clock += 30_001;
    expect(textOf(await collect(router.stream(ask())))).toBe('Hello from the fake upstream.');
    expect(a.requests).toHaveLength(3);
    expect(b.requests).toHaveLength(4);
    expect(router.status().find((p) => p.id === 'a')).toMatchObject({ state: 'healthy', failuresInARow: 0 });
    expect(router.status().find((p) => p.id === 'a')!.lastHour).toMatchObject({ requests: 3, errors: 2 });
  });

  test('a trial that fails opens it again; while every provider is open they are still tried in order', async () => {
    let clock = 5_000_000;
    const { router } = routerFor(modelsFile(), { failures: 1, cooldownMs: 10_000 }, () => clock);
    a.script({ kind: 'error', status: 500 });
    await collect(router.stream(ask()));
    clock += 10_001;
    a.script({ kind: 'error', status: 500 });
    await collect(router.stream(ask())); // the trial fails; B answers
    expect(router.status().find((p) => p.id === 'a')).toMatchObject({ state: 'cooling', retryAt: clock + 10_000 });
    // B fails too: now both are open, and a call still tries them (A first) rather than refusing.
    b.script({ kind: 'error', status: 500 });
    await expect(collect(router.stream(ask({ model: 'only-b' })))).rejects.toMatchObject({ kind: 'server' });
    a.script({ kind: 'stream', pieces: ['A again'] });
    expect(textOf(await collect(router.stream(ask())))).toBe('A again');
  });
});

// ---- through the server: the page, /v1, the ledger and the admin pages -----------------------------

describe('a server with two providers', () => {
  let srv: TestServer;
  let q: ReturnType<typeof db>;
  let file: string;
  let logs = '';
  const CHAT = () => loadModels(file).find('chat-1')!;
  beforeAll(async () => {
    file = modelsFile();
    const sink = new Writable({ write: (chunk, _enc, done) => ((logs += chunk.toString()), done()) });
    srv = await startTestServer(
      { MODELS_FILE: file, A_KEY: KEY_A, B_KEY: KEY_B, SIGNUP_BONUS: '100000', LOGIN_RATE_LIMIT_PER_IP: '10000', PROVIDER_FAILURES: '50' },
      { logger: pino({ level: 'debug' }, sink) },
    );
    q = db(srv);
  });
  afterAll(() => srv.close());

  async function admin(): Promise<User> {
    const user = await newUser(srv);
    await srv.sql.run(`UPDATE users SET role = 'admin' WHERE id = ?`, user.id);
    return user;
  }

  test('a chat turn fails over from A (500) to B before any output: one hold, charged once at B\'s usage', async () => {
    const user = await newUser(srv);
    const before = await q.balance(user);
    a.script({ kind: 'error', status: 500, message: `upstream broke; it was sent ${KEY_A}` });
    b.script({ kind: 'stream', pieces: ['Answer', ' from B'], usage: { prompt_tokens: 20, completion_tokens: 3 } });
    const res = await post(user, '/send', { ...(await composer(user)), model: 'chat-1' });
    expect(res.status).toBe(200);
    expect(res.text).toContain('Answer');
    const holds = await q.holds(user);
    expect(holds).toHaveLength(1);
    // B was not asked for usage (stream_options: false), so the local count settles.
    expect(b.requests[0]!.body).not.toHaveProperty('stream_options');
    expect(holds[0]).toMatchObject({ state: 'settled', provider: 'b', upstream_model: 'vendor/chat-1-b', source: 'estimated' });
    expect(before - (await q.balance(user))).toBe(holds[0].charge);
    expect((await q.ledger(user)).map((r) => r.kind)).toEqual(['signup_bonus', 'reserve', 'settle']);
    const [, answer] = await q.messagesOfUser(user);
    expect(answer).toMatchObject({ content: 'Answer from B', status: 'done', provider: 'b' });
    expect(res.text).toContain('answered by b');
  });

  test('a turn A drops after the first token is not sent to B, and is charged the prompt plus what was shown', async () => {
    const user = await newUser(srv);
    const before = await q.balance(user);
    a.script({ kind: 'stream', pieces: ['Part', ' one', ' two'], dropAfter: 2 });
    const res = await post(user, '/send', { ...(await composer(user)), model: 'chat-1' });
    expect(res.status).toBe(200);
    expect(b.requests).toHaveLength(0);
    const [hold] = await q.holds(user);
    const { countTextSync } = await import('../src/metering/tokens');
    expect(hold).toMatchObject({ provider: 'a', outcome: 'error', completion_tokens: countTextSync('Part one', 'o200k_base') });
    expect(hold.charge).toBe(priceOf(CHAT(), hold.prompt_tokens, countTextSync('Part one', 'o200k_base')));
    expect(before - (await q.balance(user))).toBe(hold.charge);
  });

  test('cached prompt tokens are charged at the cached rate, to the exact token, and the footer shows them', async () => {
    const user = await newUser(srv);
    const before = await q.balance(user);
    a.script({ kind: 'stream', pieces: ['Cached'], usage: { prompt_tokens: 1001, completion_tokens: 7, prompt_tokens_details: { cached_tokens: 999 } } });
    const res = await post(user, '/send', { ...(await composer(user)), model: 'chat-1' });
    // 2 fresh prompt tokens at 2, 999 cached at 0.5, 7 completion at 4: 4 + 499.5 + 28 = 531.5 -> 532.
    expect(priceOf(CHAT(), 1001, 7, 999)).toBe(532);
    const [hold] = await q.holds(user);
    expect(hold).toMatchObject({ charge: 532, used_prompt_tokens: 1001, cached_tokens: 999, completion_tokens: 7, source: 'reported', provider: 'a' });
    expect(before - (await q.balance(user))).toBe(532);
    expect(res.text).toContain('999 prompt tokens were cached');
    // DeepSeek reports its cache hits in its own field.
    const other = await newUser(srv);
    a.script({ kind: 'stream', pieces: ['Hit'], usage: { prompt_tokens: 300, completion_tokens: 1, prompt_cache_hit_tokens: 201, prompt_cache_miss_tokens: 99 } });
    await post(other, '/send', { ...(await composer(other)), model: 'chat-1' });
    const [second] = await q.holds(other);
    // 99 at 2 + 201 at 0.5 + 1 at 4 = 198 + 100.5 + 4 = 302.5 -> 303
    expect(second).toMatchObject({ charge: 303, cached_tokens: 201 });
  });

  test('a model counted by another tokenizer is held on tiktoken\'s count plus its margin, and settled at the provider\'s', async () => {
    const user = await newUser(srv);
    a.script([{ kind: 'stream', usage: { prompt_tokens: 13, completion_tokens: 6 } }, { kind: 'stream', usage: { prompt_tokens: 13, completion_tokens: 6 } }]);
    await post(user, '/send', { ...(await composer(user, '/', 'Count me')), model: 'chat-1' });
    await post(user, '/send', { ...(await composer(user, '/', 'Count me')), model: 'guess-1' });
    const [exact, guessed] = await q.holds(user);
    expect(guessed.prompt_tokens).toBe(Math.ceil(exact.prompt_tokens * 1.2));
    expect(guessed).toMatchObject({ used_prompt_tokens: 13, completion_tokens: 6, source: 'reported', charge: priceOf(loadModels(file).find('guess-1')!, 13, 6) });
    // Without the provider's usage, the estimate (with its margin) settles, and the footer says it was counted here.
    a.script({ kind: 'stream', pieces: ['No usage'], usage: false });
    const res = await post(user, '/send', { ...(await composer(user, '/', 'Count me')), model: 'guess-1' });
    expect((await q.holds(user))[2]).toMatchObject({ used_prompt_tokens: guessed.prompt_tokens, source: 'estimated' });
    expect(res.text).toContain('estimated: counted with tiktoken plus 20%');
    const id = /id="conversation-id" name="[^"]+" value="(\d+)"/.exec(res.text)![1];
    expect((await user.agent.get(`/c/${id}`)).text).toContain('estimated: counted with tiktoken plus 20%');
  });

  test('/v1: the official SDK is answered by B after A\'s 503, under the model id it asked for, charged once', async () => {
    const user = await newUser(srv);
    const { key } = await srv.database.write(createKey, user.id, { name: 'sdk', models: null, perDay: null, total: null, expiresAt: null }, generateKey());
    const client = new OpenAI({ apiKey: key, baseURL: `${srv.url}/v1`, maxRetries: 0 });
    a.script({ kind: 'error', status: 503 });
    b.script({ kind: 'stream', pieces: ['Via', ' B'] });
    const before = await q.balance(user);
    const stream = await client.chat.completions.create({ model: 'chat-1', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const models = new Set<string>();
    let text = '';
    for await (const chunk of stream) {
      models.add(chunk.model);
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    expect(text).toBe('Via B');
    expect([...models]).toEqual(['chat-1']);
    const holds = await q.holds(user);
    expect(holds).toHaveLength(1);
    expect(holds[0]).toMatchObject({ provider: 'b', upstream_model: 'vendor/chat-1-b', state: 'settled' });
    expect(before - (await q.balance(user))).toBe(holds[0].charge);
    // Embeddings fail over the same way.
    a.script({ kind: 'error', status: 500 });
    const embedded = await client.embeddings.create({ model: 'embed-1', input: 'one' });
    expect(embedded.model).toBe('embed-1');
    expect((await q.holds(user)).at(-1)).toMatchObject({ provider: 'b', upstream_model: 'embed-1', state: 'settled' });
  });

  test('the admin Providers page shows each provider\'s state and last failure; the usage page splits by provider', async () => {
    const boss = await admin();
    const page = await boss.agent.get('/admin/providers');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Provider A');
    expect(page.text).toContain('Provider B');
    expect(page.text).toMatch(/server \(50[03]\)/); // A's last failure
    const usage = await boss.agent.get('/admin/usage');
    expect(usage.text).toContain('By provider, this month');
    expect(usage.text).toContain('<code>vendor/chat-1-b</code>');
    // Not for users.
    const user = await newUser(srv);
    expect((await user.agent.get('/admin/providers')).status).toBe(404);
  });

  test('keys never appear in logs, pages or errors, even when a provider quotes them back', async () => {
    const boss = await admin();
    a.script({ kind: 'error', status: 401, message: `Incorrect API key provided: ${KEY_A}` });
    b.script({ kind: 'error', status: 500, message: `internal error for ${KEY_B}` });
    const user = await newUser(srv);
    const res = await post(user, '/send', { ...(await composer(user)), model: 'chat-1' });
    expect(res.status).toBe(200);
    const pages = [res.text, (await boss.agent.get('/admin/providers')).text, (await boss.agent.get('/admin/usage')).text, (await user.agent.get('/')).text];
    for (const text of [...pages, logs]) {
      expect(text).not.toContain(KEY_A);
      expect(text).not.toContain(KEY_B);
    }
    expect(logs).toContain('a provider failed before any output; trying the next');
  });

  test('reloading the models file (the admin button) routes new turns by it; a turn running meanwhile finishes as it began', async () => {
    const boss = await admin();
    const user = await newUser(srv);
    const g = gate();
    a.script({ kind: 'stream', pieces: ['Old', ' route', ' done'], gate: g, gateAfter: 1, usage: { prompt_tokens: 10, completion_tokens: 3 } });
    const live = openStream(srv, user, { ...(await composer(user)), model: 'chat-1' });
    await g.reached;
    // The new file serves chat-1 from B first, and drops only-b; the prices are unchanged.
    const next = JSON.parse(fs.readFileSync(file, 'utf8'));
    next.models[0].providers = [{ provider: 'b', model: 'vendor/chat-1-b' }, 'a'];
    next.models = next.models.filter((m: { id: string }) => m.id !== 'only-b');
    fs.writeFileSync(file, JSON.stringify(next));
    try {
      const page = await boss.agent.get('/admin/providers');
      const done = await boss.agent.post('/admin/providers/reload').type('form').send({ _csrf: csrfFrom(page.text) });
      if (ON_POSTGRES) {
        // Dropping a model changes what is priced: refused until adopted; nothing changed.
        expect(done.status).toBe(422);
        expect(done.text).toContain('tokenchat models adopt');
      } else {
        expect(done.status).toBe(303);
      }
      g.release();
      await live.done;
      const [running] = await q.holds(user);
      expect(running).toMatchObject({ provider: 'a', state: 'settled' });
      if (ON_POSTGRES) return;
      b.script({ kind: 'stream', pieces: ['New route'] });
      const res = await post(user, '/send', { ...(await composer(user)), model: 'chat-1' });
      expect(res.text).toContain('answered by b');
      expect((await q.holds(user)).at(-1)).toMatchObject({ provider: 'b' });
      expect((await user.agent.get('/')).text).not.toContain('value="only-b"');
    } finally {
      fs.writeFileSync(file, fs.readFileSync(modelsFile(), 'utf8'));
      await srv.reloadModels().catch(() => undefined);
    }
  });

  test('a bad file on reload changes nothing and says why', async () => {
    const boss = await admin();
    const saved = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, JSON.stringify({ version: 1, providers: [{ id: 'a', base_url: a.url, api_key_env: 'NOPE_KEY' }], models: JSON.parse(saved).models }));
    try {
      const page = await boss.agent.get('/admin/providers');
      const res = await boss.agent.post('/admin/providers/reload').type('form').send({ _csrf: csrfFrom(page.text) });
      expect(res.status).toBe(422);
      expect(res.text).toContain('not reloaded; nothing changed');
      await expect(srv.reloadModels()).rejects.toThrow(ModelsFileError);
      // Still routed as before.
      const user = await newUser(srv);
      a.script({ kind: 'stream', pieces: ['Still A'] });
      const turn = await post(user, '/send', { ...(await composer(user)), model: 'chat-1' });
      expect(turn.text).toContain('Still A');
      await until('the hold settled', async () => (await q.holds(user))[0]?.state === 'settled');
    } finally {
      fs.writeFileSync(file, saved);
    }
  });
});
