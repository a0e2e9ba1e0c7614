// A local model API for tests: node:http on 127.0.0.1 speaking the OpenAI chat-completions wire
// format, streamed (SSE) and not, with the failures a real one has. Each request takes the next
// scripted Scenario; with none scripted it streams a short reply with usage.
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { responsesStream } from './fake-responses';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  /** What providers add: prompt_tokens_details.cached_tokens (OpenAI), prompt_cache_hit_tokens (DeepSeek) ... */
  [field: string]: unknown;
}

/** A point in a stream where the server waits: `reached` once it gets there, on until `release()`. */
export class Gate {
  arrive!: () => void;
  release!: () => void;
  readonly reached = new Promise<void>((resolve) => (this.arrive = resolve));
  readonly released = new Promise<void>((resolve) => (this.release = resolve));
}

export const gate = () => new Gate();

export type Scenario =
  | {
      kind: 'stream';
      /** Content deltas, one chunk each (default: a short reply). */
      pieces?: string[];
      /** Sent when the request asks for it (stream_options.include_usage); false = never. */
      usage?: Usage | false;
      finishReason?: string | null;
      /** Pause before the first chunk (the response headers go at once): a model thinking in silence. */
      firstDelayMs?: number;
      /** Pause before each content chunk. */
      delayMs?: number;
      /** Destroy the socket after this many content chunks: no finish, no [DONE]. */
      dropAfter?: number;
      /** Go silent for ever after this many content chunks. */
      hangAfter?: number;
      /** Wait at this gate after `gateAfter` content chunks. */
      gate?: Gate;
      gateAfter?: number;
      /** Reasoning text streamed before the pieces as `reasoning_content` deltas (DeepSeek's and Qwen's way). */
      reasoning?: string[];
      /** Tool calls streamed after the pieces, as OpenAI does: id and name first, then the arguments in parts. */
      toolCalls?: Array<{ id: string; name: string; arguments: string[] }>;
      /** An OpenAI error event sent after the pieces, ending the stream. */
      streamError?: { message: string; type?: string; code?: string | null };
      headers?: Record<string, string>;
    }
  | { kind: 'json'; text?: string; usage?: Usage; status?: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'error'; status: number; message?: string; type?: string; code?: string | null; headers?: Record<string, string> }
  /** An embeddings answer, by default as the request asked (what an unscripted /embeddings call gets). */
  | ({ kind: 'embeddings' } & EmbeddingsAnswer)
  /** Any body at all, sent as it is (default status 200, content-type text/plain). */
  | { kind: 'raw'; body: string; status?: number; headers?: Record<string, string> }
  /** Accept the request and never answer. */
  | { kind: 'hang' };

/** How an embeddings answer departs from a well-behaved one; every field defaults to what the request asked. */
export interface EmbeddingsAnswer {
  /** Each vector as a number array or base64 of float32, whatever the request's encoding_format said. */
  encoding?: 'float' | 'base64';
  vector?: number[];
  /** How many items the list holds (default one per input). */
  items?: number;
  contentType?: string;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: any;
  /** Resolves when the response closes: true if the client went away before it was complete. */
  closed: Promise<boolean>;
}

export interface FakeUpstream {
  /** The base URL, ending in /v1. */
  url: string;
  requests: RecordedRequest[];
  script(next: Scenario | Scenario[]): void;
  close(): Promise<void>;
  /** Forgets scenarios scripted but not used (requests refused before reaching it). */
  clear(): void;
}

export const DEFAULT_PIECES = ['Hello', ' from', ' the', ' fake', ' upstream', '.'];
export const DEFAULT_USAGE: Usage = { prompt_tokens: 11, completion_tokens: 6 };

const ERROR_TYPES: Record<number, string> = { 400: 'invalid_request_error', 401: 'invalid_request_error', 404: 'invalid_request_error', 429: 'requests', 500: 'server_error' };

/** `api: 'responses'`: a provider that speaks only OpenAI's Responses API (POST /responses; /chat/completions is a 404). */
export async function startFakeUpstream(opts: { api?: 'chat_completions' | 'responses' } = {}): Promise<FakeUpstream> {
  const queue: Scenario[] = [];
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      const raw = Buffer.concat(parts).toString('utf8');
      let body: any;
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
      const closed = new Promise<boolean>((resolve) => res.on('close', () => resolve(!res.writableFinished)));
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, closed });
      if (req.url?.endsWith('/embeddings') && !queue.length) return embeddings({}, body, res);
      const responses = req.url?.endsWith('/responses') === true;
      if (responses !== (opts.api === 'responses') && !req.url?.endsWith('/embeddings')) {
        return sendJson(res, 404, { error: { message: `fake: ${req.url} is not spoken here`, type: 'invalid_request_error', param: null, code: 'unknown_url' } });
      }
      const scenario = queue.shift() ?? { kind: 'stream' };
      const run = responses && scenario.kind === 'stream'
        ? responsesStream({ ...scenario, pieces: scenario.pieces ?? DEFAULT_PIECES, usage: scenario.usage ?? DEFAULT_USAGE }, body, res)
        : answer(scenario, body, res);
      void run.catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    script: (next) => void queue.push(...(Array.isArray(next) ? next : [next])),
    clear: () => void queue.splice(0),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

async function answer(scenario: Scenario, body: any, res: http.ServerResponse): Promise<void> {
  const model = typeof body?.model === 'string' ? body.model : 'fake';
  switch (scenario.kind) {
    case 'hang':
      return;
    case 'error': {
      const error = { message: scenario.message ?? `fake error ${scenario.status}`, type: scenario.type ?? ERROR_TYPES[scenario.status] ?? 'api_error', param: null, code: scenario.code ?? null };
      return sendJson(res, scenario.status, { error }, scenario.headers);
    }
    case 'json': {
      const text = scenario.text ?? DEFAULT_PIECES.join('');
      const usage = scenario.usage ?? DEFAULT_USAGE;
      const completion = {
        id: 'chatcmpl-fake', object: 'chat.completion', created: 1, model,
        choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: 'stop' }],
        usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
      };
      return sendJson(res, scenario.status ?? 200, scenario.body ?? completion, scenario.headers);
    }
    case 'stream':
      return stream(scenario, body, model, res);
    case 'embeddings':
      return embeddings(scenario, body, res);
    case 'raw':
      return void res.writeHead(scenario.status ?? 200, { 'content-type': 'text/plain', ...scenario.headers }).end(scenario.body);
  }
}

async function stream(s: Extract<Scenario, { kind: 'stream' }>, body: any, model: string, res: http.ServerResponse): Promise<void> {
  const withUsage = body?.stream_options?.include_usage === true;
  let flushed = Promise.resolve();
  const send = (choices: unknown[], extra: object = {}) => {
    const data = JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1, model, choices, ...(withUsage && { usage: null }), ...extra });
    flushed = new Promise((done) => res.write(`data: ${data}\n\n`, () => done()));
  };
  const delta = (d: object, finish: string | null = null) => ({ index: 0, delta: d, logprobs: null, finish_reason: finish });
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...s.headers });
  if (s.firstDelayMs) await new Promise((resolve) => setTimeout(resolve, s.firstDelayMs));
  send([delta({ role: 'assistant', content: '' })]);
  for (const thought of s.reasoning ?? []) send([delta({ reasoning_content: thought })]);
  const pieces = s.pieces ?? DEFAULT_PIECES;
  for (let i = 0; i <= pieces.length; i++) {
    if (s.gate && s.gateAfter === i) {
      s.gate.arrive();
      await s.gate.released;
    }
    if (res.destroyed) return;
    if (s.dropAfter === i) {
      await flushed; // the chunks sent so far reach the client first
      return void res.socket?.destroy();
    }
    if (s.hangAfter === i) return;
    if (i === pieces.length) break;
    if (s.delayMs) await new Promise((resolve) => setTimeout(resolve, s.delayMs));
    send([delta({ content: pieces[i] })]);
  }
  for (const [index, call] of (s.toolCalls ?? []).entries()) {
    send([delta({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] })]);
    for (const part of call.arguments) send([delta({ tool_calls: [{ index, function: { arguments: part } }] })]);
  }
  if (s.streamError) {
    res.write(`data: ${JSON.stringify({ error: { type: 'server_error', code: null, param: null, ...s.streamError } })}\n\n`);
    return void res.end();
  }
  send([delta({}, s.finishReason === undefined ? 'stop' : s.finishReason)]);
  const usage = s.usage ?? DEFAULT_USAGE;
  if (withUsage && usage) send([], { usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } });
  res.end('data: [DONE]\n\n');
}

/** An embeddings answer: a small vector per input (floats, or base64 of float32 as the SDK asks by default), usage 3 a text. */
function embeddings(answer: EmbeddingsAnswer, body: any, res: http.ServerResponse): void {
  const inputs: unknown[] = typeof body?.input === 'string' || typeof body?.input?.[0] === 'number' ? [body.input] : body?.input ?? [];
  const encoding = answer.encoding ?? (body?.encoding_format === 'base64' ? 'base64' : 'float');
  const data = Array.from({ length: answer.items ?? inputs.length }, (_, index) => {
    const vector = answer.vector ?? [0.25, -0.5, 0.75];
    const embedding = encoding === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
    return { object: 'embedding', index, embedding };
  });
  const tokens = 3 * inputs.length;
  const headers: Record<string, string> = answer.contentType ? { 'content-type': answer.contentType } : {};
  sendJson(res, 200, { object: 'list', data, model: body?.model, usage: { prompt_tokens: tokens, total_tokens: tokens } }, headers);
}
