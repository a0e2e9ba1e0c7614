// /v1/embeddings against providers that answer in the other encoding, with the wrong content-type,
// or with nothing usable: the provider is asked for what the client asked (float when it said
// nothing), either encoding is decoded, and the client gets its own; anything else is a 502 that
// charges nothing. Clients: the official openai SDK (which asks for base64 and decodes it itself)
// and raw HTTP.
import OpenAI, { APIError } from 'openai';
import { createKey, generateKey } from '../src/accounts/api-keys';
import { balanceOf } from '../src/ledger/ledger';
import { verifyLedger } from '../src/ledger/verify';
import type { ProviderSpec } from '../src/metering/models';
import { providerClient } from '../src/upstream/client';
import { Router } from '../src/upstream/router';
import { UpstreamError } from '../src/upstream/errors';
import { newUser, type User } from './chat-helpers';
import { startFakeUpstream, type FakeUpstream, type Scenario } from './fake-upstream';
import { startTestServer, type TestServer } from './helpers';

let fake: FakeUpstream;
let srv: TestServer;

beforeAll(async () => {
  fake = await startFakeUpstream();
  srv = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, LOGIN_RATE_LIMIT_PER_IP: '10000' });
});
afterAll(async () => {
  await srv.close();
  await fake.close();
});
afterEach(async () => {
  fake.clear();
  expect(await srv.database.read(verifyLedger, 3_600_000)).toEqual([]);
});

const MODEL = 'text-embedding-3-small';
const VECTOR = [0.25, -0.5, 0.75];
const base64Of = (vector: number[]) => Buffer.from(new Float32Array(vector).buffer).toString('base64');

async function keyFor(user: User): Promise<string> {
  return (await srv.database.write(createKey, user.id, { name: 'embed', models: null, perDay: null, total: null, expiresAt: null }, generateKey())).key;
}

/** The official client, without retries so a 502 is one call. */
const sdk = (key: string) => new OpenAI({ apiKey: key, baseURL: `${srv.url}/v1`, maxRetries: 0 });

/** A raw HTTP call: the status and the JSON body exactly as sent. */
async function raw(key: string, body: object): Promise<{ status: number; body: any }> {
  const res = await fetch(`${srv.url}/v1/embeddings`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, ...body }),
  });
  return { status: res.status, body: await res.json() };
}

const sentUpstream = () => fake.requests.at(-1)!.body;
const balance = (user: User) => srv.database.read(balanceOf, user.id);
const lastHold = async (user: User) => {
  const hold = (await srv.sql.get<{ id: number; state: string; charge: number | null; source: string | null }>(
    'SELECT id, state, charge, source FROM holds WHERE user_id = ? ORDER BY id DESC LIMIT 1', user.id))!;
  const rows = await srv.sql.all<{ kind: string; amount: number }>('SELECT kind, amount FROM ledger WHERE hold_id = ? ORDER BY id', hold.id);
  return { ...hold, ledger: rows.map((r) => r.kind), net: rows.reduce((sum, r) => sum + Number(r.amount), 0) };
};

describe('POST /v1/embeddings — the encoding asked for', () => {
  test('the provider is sent the client\'s encoding_format, float when the client gave none', async () => {
    const user = await newUser(srv);
    const key = await keyFor(user);
    const none = await raw(key, { input: 'hello' });
    expect(sentUpstream().encoding_format).toBe('float');
    expect(none.status).toBe(200);
    expect(none.body.data).toEqual([{ object: 'embedding', index: 0, embedding: VECTOR }]);
    const float = await raw(key, { input: 'hello', encoding_format: 'float' });
    expect(sentUpstream().encoding_format).toBe('float');
    expect(float.body.data[0].embedding).toEqual(VECTOR);
    const base64 = await raw(key, { input: 'hello', encoding_format: 'base64' });
    expect(sentUpstream().encoding_format).toBe('base64');
    expect(base64.body.data[0].embedding).toBe(base64Of(VECTOR));
    // The SDK asks for base64 itself when its caller gives no format, and decodes it.
    const got = await sdk(key).embeddings.create({ model: MODEL, input: 'hello' });
    expect(sentUpstream().encoding_format).toBe('base64');
    expect(got.data[0]!.embedding).toEqual(VECTOR);
  });

  test('a provider answering numbers when asked base64: the SDK and a raw client asking base64 get base64 of them, charged its count', async () => {
    const user = await newUser(srv);
    const key = await keyFor(user);
    fake.script({ kind: 'embeddings', encoding: 'float' });
    const got = await sdk(key).embeddings.create({ model: MODEL, input: ['first', 'second'] });
    expect(got.data.map((d) => d.embedding)).toEqual([VECTOR, VECTOR]);
    expect(got.usage).toEqual({ prompt_tokens: 6, total_tokens: 6 });
    expect(await lastHold(user)).toMatchObject({ state: 'settled', charge: 1, source: 'reported', ledger: ['reserve', 'settle'], net: -1 });
    fake.script({ kind: 'embeddings', encoding: 'float' });
    const asked = await raw(key, { input: 'first', encoding_format: 'base64' });
    expect(asked.status).toBe(200);
    expect(asked.body.data).toEqual([{ object: 'embedding', index: 0, embedding: base64Of(VECTOR) }]);
    expect(await balance(user)).toBe(2000 - 2);
  });

  test('a provider answering base64 when asked float: a raw client asking float, or nothing, gets numbers', async () => {
    const user = await newUser(srv);
    const key = await keyFor(user);
    fake.script({ kind: 'embeddings', encoding: 'base64' });
    const float = await raw(key, { input: 'hello', encoding_format: 'float' });
    expect(float.status).toBe(200);
    expect(float.body.data).toEqual([{ object: 'embedding', index: 0, embedding: VECTOR }]);
    fake.script({ kind: 'embeddings', encoding: 'base64' });
    const none = await raw(key, { input: ['one', 'two'] });
    expect(none.body.data.map((d: { embedding: unknown }) => d.embedding)).toEqual([VECTOR, VECTOR]);
    fake.script({ kind: 'embeddings', encoding: 'base64' });
    const viaSdk = await sdk(key).embeddings.create({ model: MODEL, input: 'hello', encoding_format: 'float' });
    expect(viaSdk.data[0]!.embedding).toEqual(VECTOR);
    expect(await lastHold(user)).toMatchObject({ state: 'settled', charge: 1, source: 'reported' });
  });

  test('a provider answering its JSON as text/plain: the client gets the vectors, not the text split into characters', async () => {
    const user = await newUser(srv);
    const key = await keyFor(user);
    fake.script({ kind: 'embeddings', contentType: 'text/plain; charset=utf-8' });
    const got = await sdk(key).embeddings.create({ model: MODEL, input: 'hello' });
    expect(got.data).toEqual([{ object: 'embedding', index: 0, embedding: VECTOR }]);
    fake.script({ kind: 'embeddings', contentType: 'text/plain' });
    const float = await raw(key, { input: 'hello', encoding_format: 'float' });
    expect(float.body).toEqual({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: VECTOR }], model: MODEL, usage: { prompt_tokens: 3, total_tokens: 3 } });
    expect(await lastHold(user)).toMatchObject({ state: 'settled', charge: 1, ledger: ['reserve', 'settle'] });
  });
});

const list = (data: unknown) => JSON.stringify({ object: 'list', data, model: MODEL, usage: { prompt_tokens: 3, total_tokens: 3 } });
const json = { 'content-type': 'application/json' };

/** Answers no client may be given: each is a 502, the hold released. */
const UNUSABLE: Array<[string, Scenario]> = [
  ['text that is not JSON', { kind: 'raw', body: 'upstream hiccup, sorry' }],
  ['an HTML page', { kind: 'raw', body: '<html><body>Bad gateway</body></html>', headers: { 'content-type': 'text/html' } }],
  ['JSON of another shape', { kind: 'raw', body: JSON.stringify({ ok: true, result: [0.1, 0.2] }), headers: json }],
  ['an error object with a 200', { kind: 'raw', body: JSON.stringify({ error: { message: 'overloaded' } }), headers: json }],
  ['an empty vector', { kind: 'embeddings', vector: [] }],
  ['an empty vector in base64', { kind: 'embeddings', vector: [], encoding: 'base64' }],
  ['a vector of strings', { kind: 'raw', body: list([{ object: 'embedding', index: 0, embedding: ['0.25', '-0.5'] }]), headers: json }],
  ['a vector with a null', { kind: 'raw', body: list([{ object: 'embedding', index: 0, embedding: [0.25, null] }]), headers: json }],
  ['base64 that is not whole float32s', { kind: 'raw', body: list([{ object: 'embedding', index: 0, embedding: 'AAAAAAA=' }]), headers: json }],
  ['text that is not base64', { kind: 'raw', body: list([{ object: 'embedding', index: 0, embedding: 'not base64!' }]), headers: json }],
  ['a NaN in base64', { kind: 'raw', body: list([{ object: 'embedding', index: 0, embedding: base64Of([0.5, Number.NaN]) }]), headers: json }],
  ['no items', { kind: 'embeddings', items: 0 }],
  ['fewer items than inputs', { kind: 'embeddings', items: 1 }],
  ['more items than inputs', { kind: 'embeddings', items: 3 }],
  ['two items at one index', { kind: 'raw', body: list([{ object: 'embedding', index: 0, embedding: VECTOR }, { object: 'embedding', index: 0, embedding: VECTOR }]), headers: json }],
  ['vectors of different lengths', { kind: 'raw', body: list([{ object: 'embedding', index: 0, embedding: VECTOR }, { object: 'embedding', index: 1, embedding: [0.5] }]), headers: json }],
  ['vectors longer than any model gives', { kind: 'raw', body: list([0, 1].map((index) => ({ object: 'embedding', index, embedding: Array(9000).fill(0.25) }))), headers: json }],
  ['a body larger than any answer to the request can be', { kind: 'raw', body: list([0, 1].map((index) => ({ object: 'embedding', index, embedding: VECTOR }))) + ' '.repeat(2_000_000), headers: json }],
];

describe('POST /v1/embeddings — an answer that is not embeddings', () => {
  test.each(UNUSABLE)('%s: 502 in OpenAI\'s error shape to a raw client and to the SDK, nothing charged', async (_, scenario) => {
    const user = await newUser(srv);
    const key = await keyFor(user);
    const before = await balance(user);
    for (const encoding_format of ['float', 'base64', undefined]) {
      fake.script(scenario);
      const res = await raw(key, { input: ['first', 'second'], ...(encoding_format && { encoding_format }) });
      expect(res.status).toBe(502);
      expect(res.body).toEqual({ error: { message: 'The model provider failed to answer.', type: 'server_error', code: 'upstream_error', param: null } });
      expect(await lastHold(user)).toMatchObject({ state: 'released', ledger: ['reserve', 'release'], net: 0 });
    }
    fake.script(scenario);
    const err = (await sdk(key).embeddings.create({ model: MODEL, input: ['first', 'second'] }).catch((e: unknown) => e)) as APIError;
    expect(err).toBeInstanceOf(APIError);
    expect([err.status, err.code]).toEqual([502, 'upstream_error']);
    expect(await lastHold(user)).toMatchObject({ state: 'released', ledger: ['reserve', 'release'], net: 0 });
    expect(await balance(user)).toBe(before);
  });
});

describe('Router.embed', () => {
  const spec = (id: string, baseURL: string): ProviderSpec => ({ id, name: id, baseURL, apiKeyEnv: undefined, streamOptions: true, maxTokensParam: undefined });

  test('a provider whose answer is not embeddings is passed over for the next; with none left, a server error', async () => {
    const other = await startFakeUpstream();
    try {
      const clients = [providerClient(spec('a', fake.url), 'k', { timeoutMs: 5000 }), providerClient(spec('b', other.url), 'k', { timeoutMs: 5000 })];
      const router = new Router({ clients, routes: new Map([['e', [{ provider: 'a', model: 'e' }, { provider: 'b', model: 'e-at-b' }]]]), fallback: undefined }, { timeoutMs: 5000 });
      const served: string[] = [];
      const req = { body: { input: 'hi' }, model: 'e', signal: new AbortController().signal, onProvider: (s: { provider: string }) => served.push(s.provider) };
      fake.script({ kind: 'embeddings', vector: [] });
      const got = await router.embed(req);
      expect(served).toEqual(['a', 'b']);
      expect(got.vectors).toEqual([VECTOR]);
      expect(got.promptTokens).toBe(3);
      fake.script({ kind: 'raw', body: 'nope' });
      other.script({ kind: 'raw', body: 'nope' });
      const failed = await router.embed(req).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(UpstreamError);
      expect((failed as UpstreamError).kind).toBe('server');
    } finally {
      await other.close();
    }
  });
});
