// The SDK's fetch over node:http (src/upstream/http-fetch.ts), driven through the openai SDK
// itself against a local server: what a model API call sees.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import OpenAI from 'openai';
import { httpFetch } from '../src/upstream/http-fetch';

let server: http.Server;
let base: string;
let connections = 0;
let handler: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (p: Buffer) => (body += p.toString('utf8')));
    req.on('end', () => handler(req, res, body));
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const client = (f: typeof fetch = httpFetch) => new OpenAI({ apiKey: 'sk-test', baseURL: base, maxRetries: 0, fetch: f });
const chunk = (content: string) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
const answer = { id: 'c', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi there' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } };

test('a JSON answer, its request body and headers as sent; connections are kept alive', async () => {
  let seen: { auth?: string; body?: unknown } = {};
  handler = (req, res, body) => {
    seen = { auth: req.headers.authorization, body: JSON.parse(body) };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  };
  const before = connections;
  for (let i = 0; i < 3; i++) {
    const done = await client().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: '你好' }] });
    expect(done.choices[0]!.message.content).toBe('hi there');
  }
  expect(seen).toEqual({ auth: 'Bearer sk-test', body: { model: 'm', messages: [{ role: 'user', content: '你好' }] } });
  expect(connections - before).toBe(1);
});

test('a streamed answer arrives chunk by chunk, before the stream ends', async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunk('one'));
    void held.then(() => res.end(`${chunk(' two')}data: [DONE]\n\n`));
  };
  const stream = await client().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true });
  const got: string[] = [];
  for await (const c of stream) {
    got.push(c.choices[0]!.delta.content ?? '');
    if (got.length === 1) release(); // the first chunk came while the server still held the rest
  }
  expect(got).toEqual(['one', ' two']);
});

test('a gzip-encoded answer is decoded', async () => {
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(zlib.gzipSync(JSON.stringify(answer)));
  };
  const done = await client().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
  expect(done.usage?.total_tokens).toBe(5);
});

test('an error status reaches the SDK with its body and headers', async () => {
  handler = (_req, res) => {
    res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7' }).end(JSON.stringify({ error: { message: 'slow down', type: 'rate_limit_exceeded' } }));
  };
  const err = await client().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(OpenAI.RateLimitError);
  expect((err as InstanceType<typeof OpenAI.RateLimitError>).message).toContain('slow down');
  expect((err as InstanceType<typeof OpenAI.RateLimitError>).headers?.get('retry-after')).toBe('7');
});

test.each([['httpFetch', httpFetch], ['the global fetch', fetch]])('an abort mid-stream ends the SDK stream quietly with %s, and closes the connection', async (_name, f) => {
  let closed!: () => void;
  const serverSawClose = new Promise<void>((r) => (closed = r));
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunk('one'));
    res.on('close', () => closed());
  };
  const controller = new AbortController();
  const stream = await client(f).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true }, { signal: controller.signal });
  const got: string[] = [];
  for await (const c of stream) {
    got.push(c.choices[0]!.delta.content ?? '');
    controller.abort();
  }
  await serverSawClose;
  expect(got).toEqual(['one']);
});

test('the SDK\'s own timeout is a timeout: an abort rejects with an Error named AbortError of the caller\'s realm', async () => {
  // A server that never answers; the SDK's timer aborts the fetch. A DOMException from another
  // realm (jest's, or any vm context's) was not taken for an Error by the SDK, whose copy lost its
  // name: a connection error, not a timeout.
  handler = () => {};
  const err = await client().chat.completions.create({ model: 'm', messages: [] }, { timeout: 100 }).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
  const controller = new AbortController();
  const pending = httpFetch(`${base}/chat/completions`, { method: 'POST', body: '{}', signal: controller.signal }).then(() => undefined, (e: unknown) => e);
  controller.abort();
  const aborted = await pending;
  expect(aborted).toBeInstanceOf(Error);
  expect(aborted).toMatchObject({ name: 'AbortError', message: 'This operation was aborted' });
});

test('a connection dropped mid-stream is an error, not a short answer; a refused one is a connection error', async () => {
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunk('one'));
    setTimeout(() => res.socket?.destroy(), 20);
  };
  const stream = await client().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true });
  const reading = (async () => {
    for await (const _c of stream) { /* read on */ }
  })();
  await expect(reading).rejects.toThrow();
  const refused = new OpenAI({ apiKey: 'k', baseURL: 'http://127.0.0.1:9/v1', maxRetries: 0, fetch: httpFetch });
  await expect(refused.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
});

test('a kept-alive connection the server closed is tried again on a new one; a new connection that fails is not tried again', async () => {
  const served = new WeakMap<object, number>();
  let requests = 0;
  let reset: 'none' | 'kept' | 'all' = 'none';
  handler = (req, res) => {
    requests++;
    const before = served.get(req.socket) ?? 0;
    served.set(req.socket, before + 1);
    // As if closed while idle: no answer, a reset.
    if (reset === 'all' || (reset === 'kept' && before > 0)) return void req.socket.destroy();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  };
  const ask = () => client().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
  await ask(); // a connection kept alive
  reset = 'kept';
  requests = 0;
  const opened = connections;
  expect((await ask()).choices[0]!.message.content).toBe('hi there');
  expect({ requests, opened: connections - opened }).toEqual({ requests: 2, opened: 1 });
  // Every connection reset: the kept-alive one is tried again once, on a new one, and that one's reset is the caller's error.
  reset = 'all';
  requests = 0;
  await expect(ask()).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
  expect(requests).toBe(2);
});

test('a redirect is followed (by the global fetch, with the method and body)', async () => {
  handler = (req, res, body) => {
    if (req.url === '/v1/chat/completions') return res.writeHead(307, { location: '/moved/chat/completions' }).end();
    expect(JSON.parse(body).model).toBe('m');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  };
  const done = await client().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
  expect(done.choices[0]!.message.content).toBe('hi there');
});

test('a broken gzip body nobody reads does not take the process down; reading it fails', async () => {
  handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end('not gzip at all');
  const res = (await httpFetch(`${base}/chat/completions`, { method: 'POST', body: '{}' })) as unknown as Response;
  await new Promise((r) => setTimeout(r, 50)); // the decoder fails meanwhile, unread
  await expect(res.text()).rejects.toThrow();
  handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': '0' }).end();
  const empty = (await httpFetch(`${base}/embeddings`, { method: 'POST', body: '{}' })) as unknown as Response;
  expect(await empty.text()).toBe('');
});
