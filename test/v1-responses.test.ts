// POST /v1/responses driven by the official openai package's client.responses, against a provider
// that speaks chat completions only and one that speaks only the Responses API: metered as chat
// completions are, kept per key for previous_response_id and GET/DELETE /v1/responses/{id}.
import OpenAI, { APIError } from 'openai';
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

function client(key: string, counted = { sent: 0 }): OpenAI {
  return new OpenAI({ apiKey: key, baseURL: `${s.srv.url}/v1`, maxRetries: 2, fetch: (url, init) => (counted.sent++, fetch(url, init)) });
}

const weather = { type: 'function' as const, name: 'weather', description: 'The weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: true };

describe.each([
  ['a provider speaking chat completions only', 'chatty', () => s.chat, '/v1/chat/completions'],
  ['a provider speaking the Responses API', 'answers', () => s.responses, '/v1/responses'],
])('POST /v1/responses through %s', (_name, model, upstream, path) => {
  test('non-streamed: the text as a message item, usage as charged, the response kept and readable by its key', async () => {
    const { user, key } = await userWithKey(s.srv);
    upstream().script({ kind: 'stream', usage: { prompt_tokens: 12, completion_tokens: 6 } });
    const res = await client(key).responses.create({ model, input: 'Say hello.', instructions: 'Be brief.', max_output_tokens: 50 });
    expect(res).toMatchObject({ object: 'response', status: 'completed', model, store: true, instructions: 'Be brief.' });
    expect(res.output_text).toBe(DEFAULT_PIECES.join(''));
    expect(res.usage).toMatchObject({ input_tokens: 12, output_tokens: 6, total_tokens: 18 });
    expect(await lastHold(s.srv, user)).toMatchObject({ charge: 12 + 6 * 4, source: 'reported', outcome: 'ok', state: 'settled' });
    expect(await balance(s.srv, user)).toBe(2000 - 36);
    const sent = upstream().requests.at(-1)!;
    expect(sent.url).toBe(path);
    if (path === '/v1/chat/completions') {
      expect(sent.body).toMatchObject({ model, max_tokens: 50, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello.' }] });
    } else {
      expect(sent.body).toMatchObject({ model, max_output_tokens: 50, store: false, input: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello.' }] });
    }
    const read = await client(key).responses.retrieve(res.id);
    expect(read.id).toBe(res.id);
    expect(read.output).toEqual(res.output);
  });

  test('streamed: typed events in order, the text as deltas, response.completed with the charged usage', async () => {
    const { user, key } = await userWithKey(s.srv);
    upstream().script({ kind: 'stream', usage: { prompt_tokens: 9, completion_tokens: 6, prompt_tokens_details: { cached_tokens: 4 } } });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of await client(key).responses.create({ model, input: 'Say hello.', stream: true })) events.push(event);
    const types = events.map((e) => e.type);
    expect(types.slice(0, 4)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    expect(types.slice(-4)).toEqual(['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const text = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : [])).join('');
    expect(text).toBe(DEFAULT_PIECES.join(''));
    const done = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    expect(done.response.usage).toMatchObject({ input_tokens: 9, output_tokens: 6, input_tokens_details: { cached_tokens: 4 } });
    expect(await lastHold(s.srv, user)).toMatchObject({ source: 'reported', outcome: 'ok', state: 'settled' });
  });

  test('the SDK\'s responses.stream() helper puts the events together: reasoning, text and a function call in its final response', async () => {
    const { key } = await userWithKey(s.srv);
    upstream().script({ kind: 'stream', reasoning: ['Think', 'ing.'], pieces: ['Let me', ' check.'], toolCalls: [{ id: 'call_9', name: 'weather', arguments: ['{"city":', '"Rome"}'] }] });
    const stream = client(key).responses.stream({ model, input: 'Weather in Rome?', tools: [weather] });
    const final = await stream.finalResponse();
    expect(final.output.map((o) => o.type)).toEqual(['reasoning', 'message', 'function_call']);
    expect(final.output[0]).toMatchObject({ summary: [{ type: 'summary_text', text: 'Thinking.' }] });
    expect(final.output_text).toBe('Let me check.');
    expect(final.output[2]).toMatchObject({ call_id: 'call_9', name: 'weather', arguments: '{"city":"Rome"}' });
  });

  test('a function call, then its output in a second call: the call is an item, its output reaches the model as the tool\'s answer', async () => {
    const { key } = await userWithKey(s.srv);
    upstream().script({ kind: 'stream', pieces: [], toolCalls: [{ id: 'call_1', name: 'weather', arguments: ['{"ci', 'ty": "Paris"}'] }], finishReason: 'tool_calls' });
    const first = await client(key).responses.create({ model, input: 'Weather in Paris?', tools: [weather] });
    const call = first.output.find((o) => o.type === 'function_call') as OpenAI.Responses.ResponseFunctionToolCall;
    expect(call).toMatchObject({ type: 'function_call', call_id: 'call_1', name: 'weather', arguments: '{"city": "Paris"}' });
    upstream().script({ kind: 'stream', pieces: ['Sunny', ' in Paris.'] });
    const second = await client(key).responses.create({
      model, tools: [weather],
      input: [{ role: 'user', content: 'Weather in Paris?' }, ...first.output, { type: 'function_call_output', call_id: 'call_1', output: '{"sky": "sunny"}' }] as OpenAI.Responses.ResponseInput,
    });
    expect(second.output_text).toBe('Sunny in Paris.');
    const sent = upstream().requests.at(-1)!.body;
    if (path === '/v1/chat/completions') {
      expect(sent.messages.slice(1)).toEqual([
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city": "Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '{"sky": "sunny"}' },
      ]);
      expect(sent.tools[0].function.name).toBe('weather');
    } else {
      expect(sent.input.slice(1)).toEqual([
        { type: 'function_call', call_id: 'call_1', name: 'weather', arguments: '{"city": "Paris"}' },
        { type: 'function_call_output', call_id: 'call_1', output: '{"sky": "sunny"}' },
      ]);
      expect(sent.tools[0]).toMatchObject({ type: 'function', name: 'weather' });
    }
  });

  test('JSON schema output: the format reaches the model, the JSON comes back as the text', async () => {
    const { key } = await userWithKey(s.srv);
    upstream().script({ kind: 'stream', pieces: ['{"city":', '"Paris"}'] });
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
    const res = await client(key).responses.create({ model, input: 'Where?', text: { format: { type: 'json_schema', name: 'place', schema, strict: true } } });
    expect(JSON.parse(res.output_text)).toEqual({ city: 'Paris' });
    const sent = upstream().requests.at(-1)!.body;
    if (path === '/v1/chat/completions') expect(sent.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'place', schema, strict: true } });
    else expect(sent.text.format).toEqual({ type: 'json_schema', name: 'place', schema, strict: true });
  });

  test('a client that goes away mid-stream stops the call and is charged the prompt plus what was delivered', async () => {
    const { user, key } = await userWithKey(s.srv);
    upstream().script({ kind: 'stream', pieces: Array.from({ length: 200 }, () => ' word'), delayMs: 10 });
    const controller = new AbortController();
    let got = 0;
    try {
      for await (const event of await client(key).responses.create({ model, input: 'Talk.', stream: true, max_output_tokens: 500 }, { signal: controller.signal })) {
        if (event.type === 'response.output_text.delta') got++;
        // Gone after the fifth: pieces that came in the same read as it are never looked at.
        if (got === 5) {
          controller.abort();
          break;
        }
      }
    } catch (err) {
      expect((err as Error).name).toMatch(/Abort/);
    }
    expect(got).toBe(5);
    expect(await upstream().requests.at(-1)!.closed).toBe(true);
    await until(async () => (await lastHold(s.srv, user))?.state === 'settled');
    const hold = (await lastHold(s.srv, user))!;
    expect(hold).toMatchObject({ outcome: 'stopped', source: 'estimated' });
    expect(hold.completion).toBeGreaterThanOrEqual(5);
    expect(hold.completion).toBeLessThan(200);
    expect(hold.charge).toBe(hold.prompt + 4 * hold.completion);
  });

  test('an empty balance is a 402 sent once (no retry), and the model API is never called', async () => {
    const { user, key } = await userWithKey(s.srv);
    await grant(s.srv.database, user.id, -2000);
    const counted = { sent: 0 };
    const before = upstream().requests.length;
    for (const stream of [false, true]) {
      const err = (await client(key, counted).responses.create({ model, input: 'Hi', stream }).catch((e: unknown) => e)) as APIError;
      expect(err).toBeInstanceOf(APIError);
      expect([err.status, err.code]).toEqual([402, 'insufficient_quota']);
    }
    expect(counted.sent).toBe(2);
    expect(upstream().requests.length).toBe(before);
  });
});

describe('POST /v1/responses refusals', () => {
  test.each([
    [{ tools: [{ type: 'web_search' }] }, 'tools.0.type'],
    [{ tools: [weather, { type: 'file_search', vector_store_ids: ['vs_1'] }] }, 'tools.1.type'],
    [{ tools: [{ type: 'code_interpreter', container: { type: 'auto' } }] }, 'tools.0.type'],
    [{ tool_choice: { type: 'web_search_preview' } }, 'tool_choice'],
    [{ service_tier: 'priority' }, 'service_tier'],
    [{ background: true }, 'background'],
    [{ input: [{ type: 'computer_call_output', call_id: 'c', output: {} }] }, 'input.0.type'],
    [{ input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'file_1' }] }] }, 'input.0.content.0.type'],
    [{ some_new_field: 1 }, 'some_new_field'],
  ])('%j is a 400 naming the field; nothing is charged or sent', async (extra, param) => {
    const { user, key } = await userWithKey(s.srv);
    const before = s.chat.requests.length;
    const err = (await client(key).responses.create({ model: 'chatty', input: 'Search the web', ...extra } as never).catch((e: unknown) => e)) as APIError;
    expect([err.status, err.param, err.type]).toEqual([400, param, 'invalid_request_error']);
    expect(err.message).toMatch(/not supported|not a parameter/);
    expect(await balance(s.srv, user)).toBe(2000);
    expect(s.chat.requests.length).toBe(before);
  });
});

describe('previous_response_id and stored responses', () => {
  test.each([['chatty'], ['answers']])('%s: a conversation continues from a response; its history is sent and charged as prompt', async (model) => {
    const { user, key } = await userWithKey(s.srv);
    const up = model === 'chatty' ? s.chat : s.responses;
    up.script({ kind: 'stream', pieces: ['My name is Ada.'], usage: false });
    const first = await client(key).responses.create({ model, input: 'What is your name? '.repeat(20), instructions: 'Be brief.' });
    const firstPrompt = (await lastHold(s.srv, user))!.prompt;
    up.script({ kind: 'stream', pieces: ['Ada.'], usage: false });
    const second = await client(key).responses.create({ model, input: 'Say it again.', previous_response_id: first.id });
    expect(second).toMatchObject({ previous_response_id: first.id, output_text: 'Ada.' });
    const sent = up.requests.at(-1)!.body;
    const history = JSON.stringify(model === 'chatty' ? sent.messages : sent.input);
    expect(history).toContain('What is your name?');
    expect(history).toContain('My name is Ada.');
    expect(history).not.toContain('Be brief.'); // instructions are not carried over, as OpenAI's are not
    // Counted locally (no usage from the provider): the second prompt holds the first and its answer.
    expect((await lastHold(s.srv, user))!.prompt).toBeGreaterThan(firstPrompt);
  });

  test('another key, even the same user\'s, or another user finds nothing: 404 on previous_response_id, GET and DELETE', async () => {
    const owner = await userWithKey(s.srv);
    s.chat.script({ kind: 'stream' });
    const made = await client(owner.key).responses.create({ model: 'chatty', input: 'Hi' });
    const sameUser = await s.srv.database.write((await import('../src/accounts/api-keys')).createKey, owner.user.id,
      { name: 'other', models: null, perDay: null, total: null, expiresAt: null }, (await import('../src/accounts/api-keys')).generateKey());
    const stranger = await userWithKey(s.srv);
    for (const key of [sameUser.key, stranger.key]) {
      const before = s.chat.requests.length;
      const err = (await client(key).responses.create({ model: 'chatty', input: 'Go on', previous_response_id: made.id }).catch((e: unknown) => e)) as APIError;
      expect([err.status, err.code, err.param]).toEqual([404, 'previous_response_not_found', 'previous_response_id']);
      expect(s.chat.requests.length).toBe(before);
      await expect(client(key).responses.retrieve(made.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      await expect(client(key).responses.delete(made.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      const input = [{ type: 'item_reference', id: made.output[0]!.id }, { role: 'user', content: 'Go on' }] as OpenAI.Responses.ResponseInput;
      const ref = (await client(key).responses.create({ model: 'chatty', input }).catch((e: unknown) => e)) as APIError;
      expect([ref.status, ref.code, ref.param]).toEqual([404, 'item_not_found', 'input.0.id']);
    }
    expect(await balance(s.srv, stranger.user)).toBe(2000);
    await client(owner.key).responses.delete(made.id);
    await expect(client(owner.key).responses.retrieve(made.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  test('what Codex CLI and the AI SDK add (prompt_cache_key, safety_identifier, include, text.verbosity, reasoning summary) is accepted, not passed on; developer messages go as system ones', async () => {
    const { key } = await userWithKey(s.srv);
    s.chat.script({ kind: 'stream' });
    const res = await client(key).responses.create({
      model: 'chatty', input: [{ role: 'developer', content: 'Be terse.' }, { role: 'user', content: 'Hi' }], store: false, prompt_cache_key: 'session-1', safety_identifier: 'u-1', include: ['reasoning.encrypted_content'],
      text: { verbosity: 'low' }, reasoning: { summary: 'auto' },
    });
    expect(res.output_text).toBe(DEFAULT_PIECES.join(''));
    expect(Object.keys(s.chat.requests.at(-1)!.body).sort()).toEqual(['max_tokens', 'messages', 'model', 'stream', 'stream_options']);
    // A developer message reaches a chat-completions provider as a system one, which every provider takes.
    expect(s.chat.requests.at(-1)!.body.messages[0]).toEqual({ role: 'system', content: 'Be terse.' });
  });

  test('store: false keeps nothing', async () => {
    const { key } = await userWithKey(s.srv);
    s.chat.script({ kind: 'stream' });
    const res = await client(key).responses.create({ model: 'chatty', input: 'Hi', store: false });
    expect((res as unknown as { store: boolean }).store).toBe(false);
    await expect(client(key).responses.retrieve(res.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});
