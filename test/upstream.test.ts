import { countPromptTokens, countTextSync } from '../src/metering/tokens';
import { demoPieces, demoReply } from '../src/upstream/demo-model';
import { UpstreamError, type StreamEvent, type StreamRequest, type Upstream } from '../src/upstream/client';
import { createUpstream } from '../src/upstream/router';
import { retryAfterSeconds } from '../src/upstream/errors';
import { gate, startFakeUpstream, type FakeUpstream, type Scenario } from './fake-upstream';

let fake: FakeUpstream;
let upstream: Upstream;

beforeAll(async () => {
  fake = await startFakeUpstream();
  upstream = createUpstream({ apiKey: 'sk-test-key', baseURL: fake.url, timeoutMs: 10_000 });
});
afterAll(() => fake.close());

const ask = (extra: Partial<StreamRequest> = {}): StreamRequest => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello' }],
  maxTokens: 100,
  signal: new AbortController().signal,
  ...extra,
});

async function collect(events: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

/** The events before the stream failed, and the UpstreamError it failed with. */
async function failure(events: AsyncIterable<StreamEvent>): Promise<{ seen: StreamEvent[]; err: UpstreamError }> {
  const seen: StreamEvent[] = [];
  try {
    for await (const e of events) seen.push(e);
  } catch (err) {
    expect(err).toBeInstanceOf(UpstreamError);
    return { seen, err: err as UpstreamError };
  }
  throw new Error(`the stream did not fail: ${JSON.stringify(seen)}`);
}

const text = (events: StreamEvent[]) => events.map((e) => (e.type === 'delta' ? e.text : '')).join('');

describe('upstream.stream against an OpenAI-compatible API', () => {
  test('yields the deltas in order, then the reported usage, then done', async () => {
    fake.script({ kind: 'stream', pieces: ['One', ', two', ', three'], usage: { prompt_tokens: 9, completion_tokens: 3 } });
    const events = await collect(upstream.stream(ask()));
    expect(events).toEqual([
      { type: 'delta', text: 'One' },
      { type: 'delta', text: ', two' },
      { type: 'delta', text: ', three' },
      { type: 'usage', promptTokens: 9, completionTokens: 3 },
      { type: 'done', finishReason: 'stop' },
    ]);
    expect(upstream.demo).toBe(false);
  });

  test('sends a streamed request with usage, max_tokens, temperature and the messages', async () => {
    const messages = [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'Hi' }];
    await collect(upstream.stream(ask({ messages, maxTokens: 42, temperature: 0.3 })));
    const { body, headers, url } = fake.requests.at(-1)!;
    expect(url).toBe('/v1/chat/completions');
    expect(headers.authorization).toBe('Bearer sk-test-key');
    expect(body).toEqual({
      model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true }, max_tokens: 42, temperature: 0.3,
    });
  });

  test('a reasoning model gets max_completion_tokens and no temperature', async () => {
    await collect(upstream.stream(ask({ model: 'o3-mini', maxTokens: 64, temperature: 0.3 })));
    const { body } = fake.requests.at(-1)!;
    expect(body.max_completion_tokens).toBe(64);
    expect(body).not.toHaveProperty('max_tokens');
    expect(body).not.toHaveProperty('temperature');
  });

  test('an unlimited maxTokens sends no limit; a non-positive one is refused before any request', async () => {
    await collect(upstream.stream(ask({ maxTokens: Number.POSITIVE_INFINITY })));
    expect(fake.requests.at(-1)!.body).not.toHaveProperty('max_tokens');
    const before = fake.requests.length;
    const { err } = await failure(upstream.stream(ask({ maxTokens: 0 })));
    expect(err.kind).toBe('bad_request');
    expect(fake.requests.length).toBe(before);
  });

  test('a provider that reports no usage gives no usage event', async () => {
    fake.script({ kind: 'stream', pieces: ['a', 'b'], usage: false, finishReason: 'length' });
    const events = await collect(upstream.stream(ask()));
    expect(events.map((e) => e.type)).toEqual(['delta', 'delta', 'done']);
    expect(events.at(-1)).toEqual({ type: 'done', finishReason: 'length' });
  });
});

describe('upstream.stream maps every failure to an UpstreamError', () => {
  test.each<[string, Scenario, Partial<UpstreamError>]>([
    ['401 bad key', { kind: 'error', status: 401, code: 'invalid_api_key', message: 'Incorrect API key provided' }, { kind: 'auth', status: 401 }],
    ['403 forbidden', { kind: 'error', status: 403 }, { kind: 'auth', status: 403 }],
    ['429 with Retry-After', { kind: 'error', status: 429, code: 'rate_limit_exceeded', headers: { 'retry-after': '7' } }, { kind: 'rate_limit', status: 429, retryAfterSeconds: 7 }],
    ['429 with retry-after-ms', { kind: 'error', status: 429, headers: { 'retry-after-ms': '1500', 'retry-after': '60' } }, { kind: 'rate_limit', retryAfterSeconds: 2 }],
    ['429 insufficient_quota', { kind: 'error', status: 429, type: 'insufficient_quota', code: 'insufficient_quota' }, { kind: 'quota', status: 429 }],
    ['404 unknown model', { kind: 'error', status: 404, code: 'model_not_found', message: 'The model `nope` does not exist' }, { kind: 'unknown_model', status: 404 }],
    ['400 model_not_found', { kind: 'error', status: 400, code: 'model_not_found' }, { kind: 'unknown_model', status: 400 }],
    ['400 context_length_exceeded', { kind: 'error', status: 400, code: 'context_length_exceeded' }, { kind: 'context_length', status: 400, code: 'context_length_exceeded' }],
    ['400 context length by message', { kind: 'error', status: 400, message: "This model's maximum context length is 8192 tokens." }, { kind: 'context_length' }],
    ['400 other', { kind: 'error', status: 400, message: 'temperature must be at most 2' }, { kind: 'bad_request', status: 400 }],
    ['422', { kind: 'error', status: 422 }, { kind: 'bad_request', status: 422 }],
    ['500', { kind: 'error', status: 500 }, { kind: 'server', status: 500 }],
    ['503 with Retry-After', { kind: 'error', status: 503, headers: { 'retry-after': '5' } }, { kind: 'server', status: 503, retryAfterSeconds: 5 }],
  ])('%s', async (_name, scenario, expected) => {
    fake.script(scenario);
    const before = fake.requests.length;
    const { seen, err } = await failure(upstream.stream(ask()));
    expect(seen).toEqual([]);
    expect(err).toMatchObject({ ...expected, midStream: false });
    if (expected.retryAfterSeconds === undefined) expect(err.retryAfterSeconds).toBeUndefined();
    // maxRetries 0: even 429 and 5xx, which the SDK would retry, are sent once
    expect(fake.requests.length).toBe(before + 1);
  });

  test('a connection dropped mid-stream is a connection error with midStream', async () => {
    fake.script({ kind: 'stream', pieces: ['partial', ' reply', ' never ends'], dropAfter: 2 });
    const { seen, err } = await failure(upstream.stream(ask()));
    expect(text(seen)).toBe('partial reply');
    expect(err).toMatchObject({ kind: 'connection', midStream: true });
  });

  test('a stream closed cleanly without a finish reason is a connection error', async () => {
    fake.script({ kind: 'stream', pieces: ['cut'], finishReason: null, usage: false });
    const { seen, err } = await failure(upstream.stream(ask()));
    expect(text(seen)).toBe('cut');
    expect(err).toMatchObject({ kind: 'connection', midStream: true });
  });

  test('an error event inside the stream is mapped by its code', async () => {
    fake.script({ kind: 'stream', pieces: ['x'], streamError: { message: 'overloaded', type: 'server_error' } });
    const { err } = await failure(upstream.stream(ask()));
    expect(err).toMatchObject({ kind: 'server', midStream: true });
  });

  test('a refused connection is a connection error', async () => {
    const other = await startFakeUpstream();
    const url = other.url;
    await other.close();
    const dead = createUpstream({ apiKey: 'k', baseURL: url, timeoutMs: 10_000 });
    const { err } = await failure(dead.stream(ask()));
    expect(err).toMatchObject({ kind: 'connection', midStream: false });
  });

  test('no answer at all times out', async () => {
    fake.script({ kind: 'hang' });
    const quick = createUpstream({ apiKey: 'k', baseURL: fake.url, timeoutMs: 300 });
    const { err } = await failure(quick.stream(ask()));
    expect(err).toMatchObject({ kind: 'timeout', midStream: false });
  });

  test('a stream that goes silent halfway times out', async () => {
    fake.script({ kind: 'stream', pieces: ['a', 'b', 'c'], hangAfter: 1 });
    const quick = createUpstream({ apiKey: 'k', baseURL: fake.url, timeoutMs: 300 });
    const { seen, err } = await failure(quick.stream(ask()));
    expect(text(seen)).toBe('a');
    expect(err).toMatchObject({ kind: 'timeout', midStream: true });
    expect(await fake.requests.at(-1)!.closed).toBe(true);
  });

  test('aborting the signal mid-stream ends it as aborted and closes the connection', async () => {
    const g = gate();
    fake.script({ kind: 'stream', pieces: ['one', ' two', ' three', ' four'], gate: g, gateAfter: 2 });
    const controller = new AbortController();
    const events = upstream.stream(ask({ signal: controller.signal }));
    const seen: StreamEvent[] = [];
    const run = (async () => {
      for await (const e of events) seen.push(e);
    })();
    await g.reached;
    while (seen.length < 2) await new Promise((r) => setImmediate(r));
    controller.abort();
    const err = await run.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ kind: 'aborted', midStream: true });
    expect(text(seen)).toBe('one two');
    expect(await fake.requests.at(-1)!.closed).toBe(true);
    g.release();
  });

  test('a signal aborted before the call is aborted, without midStream', async () => {
    const controller = new AbortController();
    controller.abort();
    const { err } = await failure(upstream.stream(ask({ signal: controller.signal })));
    expect(err).toMatchObject({ kind: 'aborted', midStream: false });
  });

  test('breaking out of the loop closes the connection', async () => {
    const g = gate();
    fake.script({ kind: 'stream', pieces: ['one', ' two', ' three'], gate: g, gateAfter: 1 });
    for await (const e of upstream.stream(ask())) if (e.type === 'delta' && e.text === 'one') break;
    expect(await fake.requests.at(-1)!.closed).toBe(true);
    g.release();
  });
});

test('retryAfterSeconds reads seconds, milliseconds and HTTP dates', () => {
  const h = (init: Record<string, string>) => new Headers(init);
  expect(retryAfterSeconds(h({ 'retry-after': '3' }))).toBe(3);
  expect(retryAfterSeconds(h({ 'retry-after-ms': '250' }))).toBe(1);
  expect(retryAfterSeconds(h({ 'retry-after': 'Wed, 21 Oct 2015 07:28:30 GMT' }), Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(30);
  expect(retryAfterSeconds(h({ 'retry-after': 'soon' }))).toBeUndefined();
  expect(retryAfterSeconds(h({}))).toBeUndefined();
});

describe('the offline demo model', () => {
  const demo = createUpstream({ timeoutMs: 10_000, demoDelayMs: 0 });
  const messages = [{ role: 'system' as const, content: 'You are helpful.' }, { role: 'user' as const, content: 'How do I count words in JavaScript?' }];

  test('is labelled demo and streams a deterministic markdown reply with a code block', async () => {
    expect(demo.demo).toBe(true);
    const first = await collect(demo.stream(ask({ model: 'demo', messages, maxTokens: 1000 })));
    const second = await collect(demo.stream(ask({ model: 'demo', messages, maxTokens: 1000 })));
    expect(second).toEqual(first);
    const reply = text(first);
    expect(reply).toBe(demoReply(messages));
    expect(reply).toContain('Demo model');
    expect(reply).toContain('How do I count words in JavaScript?');
    expect(reply).toMatch(/```js\n[\s\S]+\n```/);
    expect(first.filter((e) => e.type === 'delta').length).toBeGreaterThan(10);
    expect(first.at(-1)).toEqual({ type: 'done', finishReason: 'stop' });
  });

  test('reports usage: prompt tokens as countPromptTokens counts them, completion as the reply', async () => {
    const events = await collect(demo.stream(ask({ model: 'demo', messages, maxTokens: 1000 })));
    const usage = events.find((e) => e.type === 'usage');
    const prompt = await countPromptTokens({ model: 'demo', messages });
    expect(usage).toEqual({ type: 'usage', promptTokens: prompt.total, completionTokens: countTextSync(text(events), 'o200k_base') });
  });

  test('answers in Chinese to a message in Chinese', async () => {
    const reply = text(await collect(demo.stream(ask({ model: 'demo', messages: [{ role: 'user', content: '你好，世界' }], maxTokens: 1000 }))));
    expect(reply).toContain('演示模型');
    expect(reply).toContain('你好，世界');
  });

  test('stops at maxTokens with finish reason length, never billing more', async () => {
    const events = await collect(demo.stream(ask({ model: 'demo', messages, maxTokens: 12 })));
    const usage = events.find((e) => e.type === 'usage') as Extract<StreamEvent, { type: 'usage' }>;
    expect(usage.completionTokens).toBeLessThanOrEqual(12);
    expect(usage.completionTokens).toBeGreaterThan(0);
    expect(events.at(-1)).toEqual({ type: 'done', finishReason: 'length' });
  });

  test('its pieces join back into the whole reply', () => {
    for (const content of ['Hi  there\n\nfriend  ', '混合 text 和中文。', '']) {
      const reply = demoReply([{ role: 'user', content }]);
      expect(demoPieces(reply, undefined, 'o200k_base').pieces.join('')).toBe(reply);
    }
  });

  test('honours the abort signal mid-stream', async () => {
    const slow = createUpstream({ timeoutMs: 10_000, demoDelayMs: 5 });
    const controller = new AbortController();
    const seen: StreamEvent[] = [];
    let err: unknown;
    try {
      for await (const e of slow.stream(ask({ model: 'demo', messages, maxTokens: 1000, signal: controller.signal }))) {
        seen.push(e);
        if (seen.length === 2) controller.abort();
      }
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ kind: 'aborted', midStream: true });
    expect(text(seen).length).toBeLessThan(demoReply(messages).length);
    expect(seen.some((e) => e.type === 'usage' || e.type === 'done')).toBe(false);
  });
});
