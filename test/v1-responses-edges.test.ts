// /v1/responses at its edges: a provider failing mid-answer, kept responses swept, and a
// Responses-speaking provider answering /v1/chat/completions and the chat page's turns too.
import OpenAI from 'openai';
import { pruneResponses } from '../src/api/response-store';
import { grant } from '../src/ledger/ledger';
import { verifyLedger } from '../src/ledger/verify';
import { composer, post } from './chat-helpers';
import { DEFAULT_PIECES } from './fake-upstream';
import { lastHold, startResponsesSetup, stopResponsesSetup, until, userWithKey, type Setup } from './responses-helpers';

let s: Setup;
beforeAll(async () => {
  s = await startResponsesSetup();
});
afterAll(() => stopResponsesSetup(s));
afterEach(async () => {
  s.chat.clear();
  s.responses.clear();
  expect(await s.srv.database.read(verifyLedger, 3_600_000)).toEqual([]);
});

const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${s.srv.url}/v1`, maxRetries: 0 });

test.each([['chatty'], ['answers']])('%s: a provider failing after output ends the stream with an error event and response.failed, charged prompt + delivered', async (model) => {
  const { user, key } = await userWithKey(s.srv);
  (model === 'chatty' ? s.chat : s.responses).script({ kind: 'stream', pieces: ['Half', ' an'], streamError: { message: 'overloaded' } });
  const events: OpenAI.Responses.ResponseStreamEvent[] = [];
  for await (const event of await client(key).responses.create({ model, input: 'Talk.', stream: true })) events.push(event);
  expect(events.filter((e) => e.type === 'response.output_text.delta').map((e) => (e as { delta: string }).delta).join('')).toBe('Half an');
  expect(events.at(-2)).toMatchObject({ type: 'error', code: 'upstream_error' });
  expect(events.at(-1)).toMatchObject({ type: 'response.failed', response: { status: 'failed', error: { code: 'upstream_error' } } });
  await until(async () => (await lastHold(s.srv, user))?.state === 'settled');
  const hold = (await lastHold(s.srv, user))!;
  expect(hold.outcome).toBe('error');
  expect(hold.completion).toBeGreaterThan(0);
  expect(hold.charge).toBe(hold.prompt + 4 * hold.completion);
  // A failed response is not kept.
  await expect(client(key).responses.retrieve(events[0]!.type === 'response.created' ? events[0].response.id : '')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
});

test('kept responses are swept after RESPONSES_KEEP_DAYS', async () => {
  const { key } = await userWithKey(s.srv);
  const made = await client(key).responses.create({ model: 'chatty', input: 'Hi' });
  expect(await s.srv.database.write(pruneResponses, 30, new Date(Date.now() + 29 * 86_400_000))).toBe(0);
  expect((await client(key).responses.retrieve(made.id)).id).toBe(made.id);
  expect(await s.srv.database.write(pruneResponses, 30, new Date(Date.now() + 31 * 86_400_000))).toBeGreaterThanOrEqual(1);
  await expect(client(key).responses.retrieve(made.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
});

test('a provider speaking the Responses API answers /v1/chat/completions too: text, tool calls with their index, usage', async () => {
  const { user, key } = await userWithKey(s.srv);
  s.responses.script({ kind: 'stream', usage: { prompt_tokens: 10, completion_tokens: 6 } });
  const done = await client(key).chat.completions.create({ model: 'answers', messages: [{ role: 'user', content: 'Hi' }] });
  expect(done.choices[0]!.message.content).toBe(DEFAULT_PIECES.join(''));
  expect(done.usage).toMatchObject({ prompt_tokens: 10, completion_tokens: 6 });
  expect(await lastHold(s.srv, user)).toMatchObject({ charge: 10 + 6 * 4, source: 'reported' });
  expect(s.responses.requests.at(-1)!.url).toBe('/v1/responses');

  const toolCalls = [{ id: 'call_a', name: 'w', arguments: ['{"x":', '1}'] }, { id: 'call_b', name: 'w', arguments: ['{"x":2}'] }];
  s.responses.script({ kind: 'stream', pieces: [], toolCalls });
  const tools = [{ type: 'function' as const, function: { name: 'w', parameters: { type: 'object', properties: { x: { type: 'number' } } } } }];
  const chunks: OpenAI.ChatCompletionChunk[] = [];
  for await (const c of await client(key).chat.completions.create({ model: 'answers', messages: [{ role: 'user', content: 'Call' }], tools, stream: true })) chunks.push(c);
  const pieces = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
  expect(pieces.filter((p) => p.index === 0).map((p) => p.function?.arguments ?? '').join('')).toBe('{"x":1}');
  expect(pieces.filter((p) => p.index === 1).map((p) => p.function?.arguments ?? '').join('')).toBe('{"x":2}');
  expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('tool_calls');
});

test('the chat page\'s turn on a model whose provider speaks the Responses API: answered and charged the provider\'s usage', async () => {
  const { user } = await userWithKey(s.srv);
  s.responses.script({ kind: 'stream', pieces: ['Paged', ' answer'], usage: { prompt_tokens: 30, completion_tokens: 2 } });
  const res = await post(user, '/send', { ...(await composer(user)), model: 'answers' });
  expect(res.status).toBe(200);
  expect(res.text).toContain('Paged answer');
  expect(s.responses.requests.at(-1)!.url).toBe('/v1/responses');
  expect(await lastHold(s.srv, user)).toMatchObject({ state: 'settled', source: 'reported', charge: 30 + 2 * 4 });
});

test.each([['chatty'], ['answers']])('%s: a provider that ignores max_output_tokens is cut where the hold ends: status incomplete, charged no more than held', async (model) => {
  const { user, key } = await userWithKey(s.srv);
  (model === 'chatty' ? s.chat : s.responses).script({ kind: 'stream', pieces: Array.from({ length: 100 }, () => ' word'), usage: false });
  const res = await client(key).responses.create({ model, input: 'Talk.', max_output_tokens: 40 });
  expect(res).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
  expect(res.usage!.output_tokens).toBeLessThanOrEqual(40);
  const hold = (await lastHold(s.srv, user))!;
  expect(hold.completion).toBeLessThanOrEqual(40);
  expect(hold.charge).toBe(hold.prompt + 4 * hold.completion);
  const sent = (model === 'chatty' ? s.chat : s.responses).requests.at(-1)!.body;
  expect(sent.max_tokens ?? sent.max_output_tokens).toBe(40);
});

test('max_output_tokens shrinks to what the balance pays for', async () => {
  const { user, key } = await userWithKey(s.srv);
  await grant(s.srv.database, user.id, -1800); // 200 tokens left: at 4 a completion token, under 50 of them
  await client(key).responses.create({ model: 'answers', input: 'Hi', max_output_tokens: 1000 });
  const asked = s.responses.requests.at(-1)!.body.max_output_tokens as number;
  expect(asked).toBeLessThan(50);
  expect(asked).toBeGreaterThan(0);
});
