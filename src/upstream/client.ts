// The model API: the only module that talks to it, always through the openai SDK and always
// streaming. Without an API key the SDK is handed the offline demo model as its `fetch`, so the
// demo exercises the same code path (request building, SSE parsing, errors) as a real upstream.
import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import type { CreateEmbeddingResponse, EmbeddingCreateParams } from 'openai/resources/embeddings';
import { createDemoFetch, DEFAULT_DEMO_DELAY_MS } from './demo-model';
import { isReasoningModel } from '../metering/models';
import { toUpstreamError, UpstreamError } from './errors';

export { UpstreamError } from './errors';
export type { UpstreamErrorKind } from './errors';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface StreamRequest {
  model: string;
  messages: ChatMessage[];
  /** A positive integer; Infinity (nothing to cap, e.g. free completions) sends no limit. */
  maxTokens: number;
  temperature?: number;
  signal: AbortSignal;
  /** The longest the model API may stay silent for this request (a reasoning model thinks in silence); default the upstream's timeout. */
  silenceMs?: number;
}

export type StreamEvent =
  | { type: 'delta'; text: string }
  | { type: 'usage'; promptTokens: number; completionTokens: number; reasoningTokens?: number }
  | { type: 'done'; finishReason: string | null };

/** A client's chat-completions request relayed as it is (/v1): its body already checked and capped. */
export interface RelayRequest {
  body: ChatCompletionCreateParamsStreaming;
  signal: AbortSignal;
  silenceMs?: number;
}

export interface Upstream {
  /** true when it is the offline demo model */
  readonly demo: boolean;
  /** Throws UpstreamError, never a raw SDK error. */
  stream(req: StreamRequest): AsyncIterable<StreamEvent>;
  /** The provider's chunks as they come (tool calls and all), with the same watchdog and errors as `stream`. */
  relay(req: RelayRequest): AsyncIterable<ChatCompletionChunk>;
  /** Embeddings of the input (/v1/embeddings). Throws UpstreamError. */
  embed(req: EmbedRequest): Promise<CreateEmbeddingResponse>;
}

export interface EmbedRequest {
  body: EmbeddingCreateParams;
  signal: AbortSignal;
}

export interface UpstreamOptions {
  apiKey?: string;
  baseURL?: string;
  /** The longest the model API may stay silent: before the response starts, or between two chunks. */
  timeoutMs: number;
  fetch?: typeof fetch;
  /** Pause between the demo model's chunks. */
  demoDelayMs?: number;
}

export const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

export function createUpstream(opts: UpstreamOptions): Upstream {
  const demo = !opts.apiKey;
  const client = new OpenAI({
    // Every option the SDK would otherwise read from process.env is given, so config.ts stays
    // the one reader of the environment (OPENAI_CUSTOM_HEADERS is the exception: it cannot be off).
    apiKey: opts.apiKey || 'demo',
    baseURL: demo ? 'http://demo.invalid/v1' : opts.baseURL || DEFAULT_BASE_URL,
    organization: null,
    project: null,
    adminAPIKey: null,
    webhookSecret: null,
    logLevel: 'off',
    timeout: opts.timeoutMs,
    // A retry after part of a reply was delivered would bill (and show) it twice, and the SDK
    // cannot tell such a failure from one before the first byte; the caller decides instead.
    maxRetries: 0,
    fetch: demo ? createDemoFetch({ delayMs: opts.demoDelayMs ?? DEFAULT_DEMO_DELAY_MS }) : opts.fetch,
  });
  return {
    demo,
    stream: (req) => streamChat(client, req, opts.timeoutMs),
    relay: (req) => chunksOf(client, req.body, req.signal, req.silenceMs ?? opts.timeoutMs),
    embed: async (req) => {
      try {
        return await client.embeddings.create(req.body, { signal: req.signal, timeout: opts.timeoutMs });
      } catch (err) {
        throw toUpstreamError(err, { midStream: false, aborted: req.signal.aborted, timedOut: false });
      }
    },
  };
}

// Reasoning models (o1, o3, o4-mini, gpt-5 ...) refuse max_tokens and any temperature but the
// default. Their max_completion_tokens also caps the hidden reasoning tokens, which they bill as
// completion tokens, so it is the cap the ledger's hold needs. Other OpenAI-compatible servers
// (vLLM, Ollama, llama.cpp, older proxies) know only max_tokens, so it stays the default.
export function requestBody(req: StreamRequest): ChatCompletionCreateParamsStreaming {
  const reasoning = isReasoningModel(req.model);
  const limit = Number.isFinite(req.maxTokens) ? req.maxTokens : undefined;
  return {
    model: req.model,
    messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
    stream: true,
    stream_options: { include_usage: true },
    ...(limit !== undefined && (reasoning ? { max_completion_tokens: limit } : { max_tokens: limit })),
    ...(req.temperature !== undefined && !reasoning && { temperature: req.temperature }),
  };
}

/** Whether a chunk carries output a client sees (text, a refusal, a tool call). */
function hasOutput(chunk: ChatCompletionChunk): boolean {
  return (chunk.choices ?? []).some((c) => Boolean(c.delta?.content || c.delta?.refusal || c.delta?.tool_calls?.length));
}

/**
 * A streamed chat completion's chunks. Throws UpstreamError (midStream once output went out), also
 * when the stream ends without saying why it finished; an abort ends it with an error too.
 */
async function* chunksOf(client: OpenAI, body: ChatCompletionCreateParamsStreaming, signal: AbortSignal, silence: number): AsyncGenerator<ChatCompletionChunk> {
  const watchdog = new Watchdog(silence, signal);
  let midStream = false;
  let finished = false;
  let drained = false; // read to the end, not left early by the caller
  try {
    // No retries and the timeout are the client's own settings (createUpstream).
    const stream = await client.chat.completions.create(body, { signal: watchdog.signal, timeout: silence });
    for await (const chunk of stream) {
      watchdog.disarm();
      if ((chunk.choices ?? []).some((c) => c.finish_reason)) finished = true;
      midStream ||= hasOutput(chunk);
      yield chunk;
      // Armed only while waiting on the upstream: a slow reader of this iterator is not a silent upstream.
      watchdog.arm();
    }
    drained = true;
    // The SDK ends a stream quietly when its signal aborts, so an abort shows up here, not as an error.
    if (signal.aborted || watchdog.timedOut) throw new Error('stream stopped');
    // The SDK hides [DONE]; a reply is complete when it said why it finished.
    if (!finished) throw new UpstreamError('connection', 'the model API closed the stream before the reply was complete', { midStream });
  } catch (err) {
    throw toUpstreamError(err, { midStream, aborted: signal.aborted, timedOut: watchdog.timedOut });
  } finally {
    watchdog.stop(!drained || !finished || signal.aborted);
  }
}

async function* streamChat(client: OpenAI, req: StreamRequest, timeoutMs: number): AsyncGenerator<StreamEvent> {
  if (!(req.maxTokens === Number.POSITIVE_INFINITY || (Number.isInteger(req.maxTokens) && req.maxTokens > 0))) {
    throw new UpstreamError('bad_request', `maxTokens must be a positive integer, not ${req.maxTokens}`);
  }
  let finishReason: string | null = null;
  let usage: { promptTokens: number; completionTokens: number } | undefined;
  for await (const chunk of chunksOf(client, requestBody(req), req.signal, req.silenceMs ?? timeoutMs)) {
    const choice = chunk.choices?.find((c) => c.index === 0) ?? chunk.choices?.[0];
    const text = (choice?.delta?.content ?? '') + (choice?.delta?.refusal ?? '');
    if (choice?.finish_reason) finishReason = choice.finish_reason;
    usage = usageOf(chunk) ?? usage;
    if (text) yield { type: 'delta', text };
  }
  if (usage) yield { type: 'usage', ...usage };
  yield { type: 'done', finishReason };
}

// Some providers repeat a running usage on every chunk; the last one reported is the total.
export function usageOf(chunk: ChatCompletionChunk): { promptTokens: number; completionTokens: number; reasoningTokens?: number } | undefined {
  const u = chunk.usage;
  const count = (n: unknown) => (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined);
  const promptTokens = count(u?.prompt_tokens);
  const completionTokens = count(u?.completion_tokens);
  if (promptTokens === undefined || completionTokens === undefined) return undefined;
  const reasoningTokens = count(u?.completion_tokens_details?.reasoning_tokens);
  return reasoningTokens === undefined ? { promptTokens, completionTokens } : { promptTokens, completionTokens, reasoningTokens };
}

/**
 * The SDK's timeout ends when the response headers arrive, so a stream that goes silent halfway
 * would hang for ever. This aborts the request after `ms` without a chunk, through a signal of
 * its own that also follows the caller's (which keeps the SDK's listener off the caller's signal).
 */
class Watchdog {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  timedOut = false;

  constructor(
    private readonly ms: number,
    private readonly outer: AbortSignal,
  ) {
    if (outer.aborted) this.controller.abort(outer.reason);
    else outer.addEventListener('abort', this.follow, { once: true });
    this.arm();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  private readonly follow = () => this.controller.abort(this.outer.reason);

  arm(): void {
    this.disarm();
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, this.ms);
  }

  disarm(): void {
    clearTimeout(this.timer);
  }

  /**
   * `open`: the request may still be open (the caller stopped iterating early, or it failed), so
   * it is aborted. A stream read to its end is not: an abort costs an exception object per call.
   */
  stop(open: boolean): void {
    this.disarm();
    this.outer.removeEventListener('abort', this.follow);
    if (open) this.controller.abort();
  }
}
