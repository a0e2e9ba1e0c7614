// The Vercel AI SDK's default OpenAI provider, createOpenAI(...)(model), calls /v1/responses: the
// set-up the README gives, against a provider that speaks chat completions only and one that
// speaks only the Responses API, metered as chat completions are.
import { createOpenAI } from '@ai-sdk/openai';
import { APICallError, generateObject, generateText, jsonSchema, stepCountIs, streamText, tool } from 'ai';
import { grant } from '../src/ledger/ledger';
import { verifyLedger } from '../src/ledger/verify';
import { DEFAULT_PIECES } from './fake-upstream';
import { balance, lastHold, startResponsesSetup, stopResponsesSetup, until, userWithKey, type Setup } from './responses-helpers';

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

/** The README's set-up; `counted` keeps its HTTP requests' count and bodies (so a retry would show). */
function provider(key: string, counted: { sent: number; bodies?: string[] } = { sent: 0 }) {
  return createOpenAI({ baseURL: `${s.srv.url}/v1`, apiKey: key, fetch: (url, init) => (counted.sent++, counted.bodies?.push(typeof init?.body === 'string' ? init.body : ''), fetch(url, init)) });
}

const weatherSchema = jsonSchema<{ city: string }>({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false });

describe.each([
  ['a provider speaking chat completions only', 'chatty', () => s.chat],
  ['a provider speaking the Responses API', 'answers', () => s.responses],
])('the AI SDK\'s default model through %s', (_name, model, upstream) => {
  test('generateText: the text, the usage charged, through /v1/responses', async () => {
    const { user, key } = await userWithKey(s.srv);
    const counted = { sent: 0 };
    upstream().script({ kind: 'stream', usage: { prompt_tokens: 12, completion_tokens: 6 } });
    const result = await generateText({ model: provider(key, counted)(model), prompt: 'Say hello.' });
    expect(result.text).toBe(DEFAULT_PIECES.join(''));
    expect(result.usage).toMatchObject({ inputTokens: 12, outputTokens: 6 });
    expect(counted.sent).toBe(1);
    expect(await lastHold(s.srv, user)).toMatchObject({ charge: 12 + 6 * 4, source: 'reported', outcome: 'ok' });
  });

  test('streamText: the text as it comes, then the usage', async () => {
    const { key } = await userWithKey(s.srv);
    upstream().script({ kind: 'stream', usage: { prompt_tokens: 9, completion_tokens: 6 } });
    const result = streamText({ model: provider(key)(model), prompt: 'Say hello.' });
    const parts: string[] = [];
    for await (const text of result.textStream) parts.push(text);
    expect(parts.join('')).toBe(DEFAULT_PIECES.join(''));
    expect(parts.length).toBeGreaterThan(1);
    expect(await result.usage).toMatchObject({ inputTokens: 9, outputTokens: 6 });
  });

  test('a tool: its call, run by the SDK, and its output sent back in a second call', async () => {
    const { key } = await userWithKey(s.srv);
    upstream().script([
      { kind: 'stream', pieces: [], toolCalls: [{ id: 'call_7', name: 'weather', arguments: ['{"city":', '"Oslo"}'] }], finishReason: 'tool_calls' },
      { kind: 'stream', pieces: ['Snow in Oslo.'] },
    ]);
    const asked: string[] = [];
    const result = await generateText({
      model: provider(key)(model), prompt: 'Weather in Oslo?', stopWhen: stepCountIs(3),
      tools: { weather: tool({ description: 'The weather', inputSchema: weatherSchema, execute: async ({ city }) => (asked.push(city), { sky: 'snow' }) }) },
    });
    expect(asked).toEqual(['Oslo']);
    expect(result.text).toBe('Snow in Oslo.');
    expect(result.steps.length).toBe(2);
    expect(JSON.stringify(upstream().requests.at(-1)!.body)).toContain('{\\"sky\\":\\"snow\\"}');
  });

  test('a conversation carried on by the SDK (its assistant message sent back as an item reference)', async () => {
    const { key } = await userWithKey(s.srv);
    upstream().script({ kind: 'stream', pieces: ['I am Ada.'] });
    const first = await generateText({ model: provider(key)(model), prompt: 'Who are you?' });
    upstream().script({ kind: 'stream', pieces: ['Still Ada.'] });
    const counted = { sent: 0, bodies: [] as string[] };
    const second = await generateText({ model: provider(key, counted)(model), messages: [{ role: 'user', content: 'Who are you?' }, ...first.response.messages, { role: 'user', content: 'Again?' }] });
    expect(second.text).toBe('Still Ada.');
    expect(counted.bodies[0]).toContain('"type":"item_reference"');
    // Told store: false (for a server keeping nothing), it sends the text itself.
    upstream().script({ kind: 'stream', pieces: ['Ada again.'] });
    const third = await generateText({
      model: provider(key, counted)(model), providerOptions: { openai: { store: false } },
      messages: [{ role: 'user', content: 'Who are you?' }, ...first.response.messages, { role: 'user', content: 'Again?' }],
    });
    expect(third.text).toBe('Ada again.');
    expect(counted.bodies[1]).not.toContain('item_reference');
    expect(JSON.stringify(upstream().requests.at(-1)!.body)).toContain('I am Ada.');
    expect(JSON.stringify(upstream().requests.at(-1)!.body)).toContain('I am Ada.');
  });

  test('generateObject: JSON schema output', async () => {
    const { key } = await userWithKey(s.srv);
    upstream().script({ kind: 'stream', pieces: ['{"city":"Paris"}'] });
    const result = await generateObject({ model: provider(key)(model), schema: weatherSchema, prompt: 'Where?' });
    expect(result.object).toEqual({ city: 'Paris' });
  });

  test('aborted mid-stream: charged the prompt plus what was delivered', async () => {
    const { user, key } = await userWithKey(s.srv);
    upstream().script({ kind: 'stream', pieces: Array.from({ length: 200 }, () => ' word'), delayMs: 10 });
    const controller = new AbortController();
    const result = streamText({ model: provider(key)(model), prompt: 'Talk.', abortSignal: controller.signal, maxOutputTokens: 500, onError: () => {} });
    let got = 0;
    try {
      for await (const _ of result.textStream) if (++got === 5) controller.abort();
    } catch {
      // the SDK may end the stream with an abort error
    }
    expect(got).toBeGreaterThanOrEqual(5);
    await until(async () => (await lastHold(s.srv, user))?.state === 'settled');
    const hold = (await lastHold(s.srv, user))!;
    expect(hold.outcome).toBe('stopped');
    expect(hold.completion).toBeGreaterThanOrEqual(5);
    expect(hold.completion).toBeLessThan(200);
    expect(hold.charge).toBe(hold.prompt + 4 * hold.completion);
  });

  test('an empty balance: a 402 sent once, the model API never called', async () => {
    const { user, key } = await userWithKey(s.srv);
    await grant(s.srv.database, user.id, -2000);
    const counted = { sent: 0 };
    const before = upstream().requests.length;
    const err = await generateText({ model: provider(key, counted)(model), prompt: 'Hi', maxRetries: 2 }).catch((e: unknown) => e);
    expect(APICallError.isInstance(err)).toBe(true);
    expect((err as APICallError).statusCode).toBe(402);
    expect(counted.sent).toBe(1);
    expect(upstream().requests.length).toBe(before);
  });
});

// The provider's tool types and ai's disagree under this project's strict compiler options; the cast is only for them.
test('the AI SDK\'s built-in web search tool is refused with a 400 naming it; nothing charged', async () => {
  const { user, key } = await userWithKey(s.srv);
  const openai = provider(key);
  const err = await generateText({ model: openai('chatty'), prompt: 'News?', tools: { web_search: openai.tools.webSearch({}) as unknown as ReturnType<typeof tool> }, maxRetries: 0 }).catch((e: unknown) => e);
  expect(APICallError.isInstance(err)).toBe(true);
  expect((err as APICallError).statusCode).toBe(400);
  expect((err as APICallError).responseBody).toContain('tools.0.type');
  expect(await balance(s.srv, user)).toBe(2000);
});

test('previous_response_id through the SDK\'s provider options continues a conversation', async () => {
  const { key } = await userWithKey(s.srv);
  s.chat.script({ kind: 'stream', pieces: ['Noted: 42.'] });
  const first = await generateText({ model: provider(key)('chatty'), prompt: 'Remember 42.' });
  s.chat.script({ kind: 'stream', pieces: ['42.'] });
  const second = await generateText({
    model: provider(key)('chatty'), prompt: 'What number?', providerOptions: { openai: { previousResponseId: first.providerMetadata!.openai!.responseId as string } },
  });
  expect(second.text).toBe('42.');
  const said = s.chat.requests.at(-1)!.body.messages.map((m: { role: string; content: unknown }) => `${m.role}: ${JSON.stringify(m.content)}`);
  expect(said).toEqual(['user: [{"type":"text","text":"Remember 42."}]', 'assistant: "Noted: 42."', 'user: [{"type":"text","text":"What number?"}]']);
});
