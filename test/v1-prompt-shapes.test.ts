// /v1/chat/completions: every prompt shape the API accepts is counted before the hold is taken, so
// the hold covers what the provider bills (issue 30, items 1 and 2), and a shape the meter cannot
// count is refused with a 400 naming it before anything reaches the provider. The fake provider
// reports, for the cookbook's function-calling example, the exact count OpenAI bills; for shapes
// without a published formula, a generous bill: the messages by the cookbook's rule (a tool call's
// name and input read as text) plus every token of the tools' JSON.
import OpenAI, { APIError } from 'openai';
import { get_encoding } from 'tiktoken';
import { createKey, generateKey } from '../src/accounts/api-keys';
import { parseChatBody, promptTokensOf } from '../src/api/request';
import { loadModels } from '../src/metering/models';
import { balanceOf, grant } from '../src/ledger/ledger';
import { verifyLedger } from '../src/ledger/verify';
import { newUser, type User } from './chat-helpers';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { WEATHER_MESSAGES, WEATHER_TOOLS } from './fixtures/cookbook';
import { bigTools, CUSTOM_CALL_MESSAGES, CUSTOM_TOOL, DEFS_TOOL, NESTED_TOOL } from './fixtures/tool-shapes';
import { startTestServer, type TestServer } from './helpers';

let fake: FakeUpstream;
let srv: TestServer;
const o200k = get_encoding('o200k_base');
const t = (text: string) => o200k.encode_ordinary(text).length;

beforeAll(async () => {
  fake = await startFakeUpstream();
  srv = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, LOGIN_RATE_LIMIT_PER_IP: '10000' });
});
afterAll(async () => {
  o200k.free();
  await srv.close();
  await fake.close();
});
afterEach(async () => {
  fake.clear();
  expect(await srv.database.read(verifyLedger, 3_600_000)).toEqual([]);
});

async function clientFor(user: User): Promise<OpenAI> {
  const { key } = await srv.database.write(createKey, user.id, { name: 'agent', models: null, perDay: null, total: null, expiresAt: null }, generateKey());
  return new OpenAI({ apiKey: key, baseURL: `${srv.url}/v1`, maxRetries: 0 });
}

async function lastHold(user: User) {
  const row = await srv.sql.get<Record<string, unknown>>(
    `SELECT prompt_tokens AS held, used_prompt_tokens AS used, uncollected, source FROM holds WHERE user_id = ? ORDER BY id DESC LIMIT 1`, user.id);
  return { held: Number(row!.held), used: Number(row!.used), uncollected: Number(row!.uncollected), source: row!.source };
}

type Sent = { role: string; content?: unknown; tool_calls?: Array<{ custom: { name: string; input: string } }> };

/** The messages by the cookbook's rule: a frame of 3, the role and the text; a tool call's name and input as text; 3 to prime the reply. */
const messagesBill = (messages: readonly Sent[]) =>
  messages.reduce((sum, m) => {
    const calls = (m.tool_calls ?? []).reduce((n, c) => n + 3 + t(c.custom.name) + t(c.custom.input), 0);
    return sum + 3 + t(m.role) + (typeof m.content === 'string' ? t(m.content) : 0) + calls;
  }, 3);

const generousBill = (messages: readonly Sent[], tools: unknown[]) => messagesBill(messages) + t(JSON.stringify(tools));

describe('POST /v1/chat/completions: tool schemas are counted whole', () => {
  test('the cookbook example is held at exactly what OpenAI bills; nested, $defs, custom and tool-call shapes at no less than their JSON', async () => {
    const user = await newUser(srv);
    await grant(srv.database, user.id, 1_000_000);
    const client = await clientFor(user);
    const ask = { model: 'gpt-4o-mini', max_tokens: 10 };

    fake.script({ kind: 'stream', usage: { prompt_tokens: 101, completion_tokens: 6 } });
    await client.chat.completions.create({ ...ask, messages: WEATHER_MESSAGES, tools: WEATHER_TOOLS });
    expect(await lastHold(user)).toEqual({ held: 101, used: 101, uncollected: 0, source: 'reported' });

    const shapes: Array<[string, Sent[], unknown[]]> = [
      ['nested objects and arrays', WEATHER_MESSAGES, [NESTED_TOOL]],
      ['$defs, $ref and anyOf', WEATHER_MESSAGES, [DEFS_TOOL]],
      ['a custom tool and an earlier custom call', CUSTOM_CALL_MESSAGES, [CUSTOM_TOOL]],
      ['all of them beside the cookbook tool', [...WEATHER_MESSAGES, ...CUSTOM_CALL_MESSAGES], [...WEATHER_TOOLS, NESTED_TOOL, DEFS_TOOL, CUSTOM_TOOL]],
    ];
    for (const [shape, messages, tools] of shapes) {
      const bill = generousBill(messages, tools);
      fake.script({ kind: 'stream', usage: { prompt_tokens: bill, completion_tokens: 6 } });
      await client.chat.completions.create({ ...ask, messages, tools } as never);
      expect(fake.requests.at(-1)!.body.tools).toEqual(tools); // forwarded as sent
      const hold = await lastHold(user);
      expect([shape, hold.held >= bill, hold]).toEqual([shape, true, { held: hold.held, used: bill, uncollected: 0, source: 'reported' }]);
    }
  });

  test('issue 30\'s 108 KB tool schema is held for its ~26,000 tokens, not 37, and nothing goes uncollected', async () => {
    const user = await newUser(srv);
    await grant(srv.database, user.id, 1_000_000);
    const tools = bigTools();
    expect(JSON.stringify(tools).length).toBeGreaterThan(108_000);
    const bill = generousBill(WEATHER_MESSAGES, tools);
    fake.script({ kind: 'stream', usage: { prompt_tokens: bill, completion_tokens: 6 } });
    await (await clientFor(user)).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 10, messages: WEATHER_MESSAGES, tools } as never);
    const hold = await lastHold(user);
    expect(bill).toBeGreaterThan(24_000);
    expect(hold.held).toBeGreaterThanOrEqual(bill);
    expect(hold.held).toBeLessThan(bill * 1.2); // conservative, not wild
    expect(hold).toMatchObject({ used: bill, uncollected: 0 });
    expect(await srv.database.read(balanceOf, user.id)).toBe(2000 + 1_000_000 - bill - 6 * 4);
  });
});

describe('POST /v1/chat/completions: shapes the meter cannot count are refused by name', () => {
  const user = (content: unknown) => ({ role: 'user', content });
  test.each([
    ['content given as an object', 'messages.0.content', [user({ type: 'text', text: 'Hello' })], undefined, null],
    ['content given as a number', 'messages.0.content', [user(42)], undefined, null],
    ['a text part whose text is not a string', 'messages.0.content.0.text', [user([{ type: 'text', text: { value: 'Hello' } }])], undefined, null],
    ['a field a text part does not have', 'messages.0.content.0.note', [user([{ type: 'text', text: 'Hello', note: 'x' }])], undefined, 'unsupported_parameter'],
    ['an unknown message field', 'messages.0.context', [{ role: 'user', content: 'Hello', context: 'A long hidden briefing.' }], undefined, 'unsupported_parameter'],
    ['an assistant\'s earlier audio', 'messages.1.audio', [user('Hello'), { role: 'assistant', audio: { id: 'audio_1' } }], undefined, 'unsupported_parameter'],
    ['a tool call of an unknown type', 'messages.1.tool_calls.0.type', [user('Hello'), { role: 'assistant', tool_calls: [{ id: 'c', type: 'mcp', mcp: { input: 'x' } }] }], undefined, null],
    ['a part whose type is an object', 'messages.0.content.0.type', [user([{ type: { toString: 1 }, text: 'Hello' }])], undefined, 'unsupported_content'],
    ['a tool whose type is an object', 'tools.0.type', [user('Hello')], [{ type: { toString: 1 } }], 'unsupported_value'],
    ['a web_search_preview tool', 'tools.0.type', [user('Hello')], [{ type: 'web_search_preview' }], 'unsupported_value'],
    ['a field a function tool does not have', 'tools.0.function.examples', [user('Hello')], [{ type: 'function', function: { name: 'f', examples: ['a long example'] } }], 'unsupported_parameter'],
  ])('%s: 400 naming %s, nothing sent upstream, nothing charged', async (_what, param, messages, tools, code) => {
    const u = await newUser(srv);
    const sent = fake.requests.length;
    const err = (await (await clientFor(u)).chat.completions.create({ model: 'gpt-4o-mini', messages, tools } as never).catch((e: unknown) => e)) as APIError;
    expect([err.status, err.param, err.code]).toEqual([400, param, code]);
    expect(fake.requests.length).toBe(sent);
    expect(await srv.database.read(balanceOf, u.id)).toBe(2000);
  });
});

test('a tool schema nested 20,000 levels deep (past what JSON.stringify can write back): 400 too_deep, nothing sent upstream, nothing charged', async () => {
  const u = await newUser(srv);
  const { key } = await srv.database.write(createKey, u.id, { name: 'deep', models: null, perDay: null, total: null, expiresAt: null }, generateKey());
  const levels = 20_000;
  const schema = '{"type":"object","properties":{"inner":'.repeat(levels) + '{"type":"string"}' + '}}'.repeat(levels);
  const body = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}],"tools":[{"type":"function","function":{"name":"f","parameters":${schema}}}]}`;
  const sent = fake.requests.length;
  const res = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });
  expect(res.status).toBe(400);
  expect(((await res.json()) as { error: { code: string } }).error.code).toBe('too_deep');
  expect(fake.requests.length).toBe(sent);
  expect(await srv.database.read(balanceOf, u.id)).toBe(2000);
});

test('a response_format or tool_choice of type "text" carrying more than its type is counted whole', async () => {
  const model = loadModels().find('gpt-4o-mini')!;
  const base = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] };
  const plain = await promptTokensOf(parseChatBody({ ...base, response_format: { type: 'text' } }), model);
  const schema = { name: 'x', schema: { type: 'object', description: 'word '.repeat(500) } };
  const padded = await promptTokensOf(parseChatBody({ ...base, response_format: { type: 'text', json_schema: schema } }), model);
  expect(padded - plain).toBeGreaterThanOrEqual(t(JSON.stringify(schema)));
});
