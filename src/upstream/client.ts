// The model APIs: the only module that talks to them, always through the openai SDK (one client
// per provider) and always streaming; router.ts picks the provider of each call. Without any
// provider the SDK is handed the offline demo model as its `fetch`, so the demo exercises the same
// code path (request building, SSE parsing, errors) as a real upstream.
import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { ContentPart } from '../attachments/content';
import type { EmbeddingCreateParams } from 'openai/resources/embeddings';
import { createDemoFetch, DEFAULT_DEMO_DELAY_MS } from './demo-model';
import { httpFetch } from './http-fetch';
import type { Embedded } from './embeddings';
import { isReasoningModel, type ProviderSpec } from '../metering/models';
import { toUpstreamError, UpstreamError } from './errors';
import { chunksOfEvents, responsesBodyOf } from './responses-api';
import type { ResponseCreateParamsStreaming } from 'openai/resources/responses/responses';

export { UpstreamError } from './errors';
export type { UpstreamErrorKind } from './errors';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  /** Parts only for a question with images (attachments/content.ts). */
  content: string | ContentPart[];
}

/** Which provider took a model call, and the model's name there (the last one tried when every one failed). */
export interface Served {
  provider: string;
  model: string;
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
  /** Hears each provider the call is sent to, in order (a failover tries the next). */
  onProvider?: (served: Served) => void;
  /** The caller stopped (Stop, a client gone): no other provider is started, even while `signal` reads on. */
  stop?: AbortSignal;
}

/** The provider's usage: prompt tokens include the cached ones; completion tokens include the reasoning ones. */
export interface ReportedUsage {
  promptTokens: number;
  completionTokens: number;
  reasoningTokens?: number;
  /** Prompt tokens the provider served from its cache (priced at the model's cached rate). */
  cachedTokens?: number;
}

export type StreamEvent =
  | { type: 'delta'; text: string }
  | ({ type: 'usage' } & ReportedUsage)
  | { type: 'done'; finishReason: string | null };

/** A chat-completions body as a client sent it (/v1), checked, without the fields each provider gets its own way. */
export type RelayBody = Omit<ChatCompletionCreateParamsStreaming, 'model' | 'stream' | 'stream_options' | 'max_tokens' | 'max_completion_tokens'>;

/** A client's chat-completions request relayed as it is (/v1): its body already checked and capped. */
export interface RelayRequest {
  body: RelayBody;
  /** The model's id here (each provider is sent its own name for it). */
  model: string;
  /** The completion limit the hold pays for. */
  maxTokens: number;
  signal: AbortSignal;
  silenceMs?: number;
  onProvider?: (served: Served) => void;
  stop?: AbortSignal;
}

export interface Upstream {
  /** true when it is the offline demo model */
  readonly demo: boolean;
  /** Throws UpstreamError, never a raw SDK error. */
  stream(req: StreamRequest): AsyncIterable<StreamEvent>;
  /** The provider's chunks as they come (tool calls and all), with the same watchdog and errors as `stream`. */
  relay(req: RelayRequest): AsyncIterable<ChatCompletionChunk>;
  /** Embeddings of the input (/v1/embeddings), one usable vector per input. Throws UpstreamError. */
  embed(req: EmbedRequest): Promise<Embedded>;
}

export interface EmbedRequest {
  /** As the client sent it: the provider is asked for its encoding_format (float when it gave none). */
  body: Omit<EmbeddingCreateParams, 'model'>;
  model: string;
  signal: AbortSignal;
  onProvider?: (served: Served) => void;
}

/** One provider's model API, reached through its own SDK client. */
export interface ProviderClient {
  readonly spec: ProviderSpec;
  readonly client: OpenAI;
  /** Its key, kept to scrub from anything it says back. */
  readonly secret: string | undefined;
}

export interface ClientOptions {
  /** The longest the model API may stay silent: before the response starts, or between two chunks. */
  timeoutMs: number;
  /** What the SDK calls the model API with (httpFetch unless a test gives its own). */
  fetch?: typeof fetch;
  /** Pause between the demo model's chunks. */
  demoDelayMs?: number;
}

export const DEFAULT_BASE_URL = 'https://api.openai.com/v1';
/** The provider a server without one (no OPENAI_API_KEY, no providers in the models file) answers with. */
export const DEMO_PROVIDER: ProviderSpec = Object.freeze({
  id: 'demo', name: 'Offline demo model', baseURL: 'http://demo.invalid/v1', apiKeyEnv: undefined, streamOptions: true, maxTokensParam: undefined,
});

export function providerClient(spec: ProviderSpec, apiKey: string | undefined, opts: ClientOptions): ProviderClient {
  const demo = spec === DEMO_PROVIDER;
  const client = new OpenAI({
    // Every option the SDK would otherwise read from process.env is given, so config.ts stays
    // the one reader of the environment (OPENAI_CUSTOM_HEADERS is the exception: it cannot be off).
    // A provider without a key (a local Ollama) is sent a placeholder, which such servers ignore.
    apiKey: apiKey || 'none',
    baseURL: spec.baseURL,
    organization: null,
    project: null,
    adminAPIKey: null,
    webhookSecret: null,
    logLevel: 'off',
    timeout: opts.timeoutMs,
    // A retry after part of a reply was delivered would bill (and show) it twice, and the SDK
    // cannot tell such a failure from one before the first byte; the router decides instead.
    maxRetries: 0,
    fetch: demo ? createDemoFetch({ delayMs: opts.demoDelayMs ?? DEFAULT_DEMO_DELAY_MS }) : (opts.fetch ?? httpFetch),
  });
  return Object.freeze({ spec, client, secret: apiKey });
}

/** The provider OPENAI_API_KEY and OPENAI_BASE_URL describe: "openai", for every model the file gives no providers. */
export function implicitProvider(baseURL: string | undefined): ProviderSpec {
  return Object.freeze({ id: 'openai', name: 'OpenAI', baseURL: baseURL || DEFAULT_BASE_URL, apiKeyEnv: 'OPENAI_API_KEY', streamOptions: true, maxTokensParam: undefined });
}

// Reasoning models (o1, o3, o4-mini, gpt-5 ...) refuse max_tokens and any temperature but the
// default. Their max_completion_tokens also caps the hidden reasoning tokens, which they bill as
// completion tokens, so it is the cap the ledger's hold needs. Other OpenAI-compatible servers
// (vLLM, Ollama, llama.cpp, older proxies) know only max_tokens, so it stays the default unless
// the provider says which it takes.
function limitParam(spec: ProviderSpec, model: string): 'max_tokens' | 'max_completion_tokens' {
  return spec.maxTokensParam ?? (isReasoningModel(model) ? 'max_completion_tokens' : 'max_tokens');
}

/** The streamed body a provider is sent: its name for the model, its limit parameter, stream_options only if it takes them. */
export function providerBody(spec: ProviderSpec, model: string, body: RelayBody, maxTokens: number): ChatCompletionCreateParamsStreaming {
  return {
    ...body,
    model,
    stream: true,
    ...(spec.streamOptions && { stream_options: { include_usage: true } }),
    ...(Number.isFinite(maxTokens) && { [limitParam(spec, model)]: maxTokens }),
  };
}

/** A chat turn's body (the page): its messages, and a temperature unless the model is a reasoning model. */
export function turnBody(req: StreamRequest): RelayBody {
  return {
    // Parts come only on a question (user) message: the SDK's type ties parts to roles.
    messages: req.messages.map((m) => ({ role: m.role, content: m.content }) as ChatCompletionMessageParam),
    ...(req.temperature !== undefined && !isReasoningModel(req.model) && { temperature: req.temperature }),
  };
}

/** Whether a chunk carries output a client sees (text, a refusal, a tool call). */
export function hasOutput(chunk: ChatCompletionChunk): boolean {
  return (chunk.choices ?? []).some((c) => Boolean(c.delta?.content || c.delta?.refusal || c.delta?.tool_calls?.length));
}

/**
 * A streamed chat completion's chunks. Throws UpstreamError (midStream once output went out), also
 * when the stream ends without saying why it finished; an abort ends it with an error too.
 */
export async function* chunksOf(
  client: OpenAI, body: ChatCompletionCreateParamsStreaming, signal: AbortSignal, silence: number, api: ProviderSpec['api'] = 'chat_completions',
): AsyncGenerator<ChatCompletionChunk> {
  const watchdog = new Watchdog(silence, signal);
  let midStream = false;
  let finished = false;
  let drained = false; // read to the end, not left early by the caller
  try {
    // No retries and the timeout are the client's own settings (createUpstream).
    const options = { signal: watchdog.signal, timeout: silence };
    const stream = api === 'responses'
      ? chunksOfEvents(await client.responses.create(responsesBodyOf(body) as unknown as ResponseCreateParamsStreaming, options), body.model)
      : await client.chat.completions.create(body, options);
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

/** A chat turn's events from one provider's chunks. */
export async function* turnEvents(chunks: AsyncIterable<ChatCompletionChunk>): AsyncGenerator<StreamEvent> {
  let finishReason: string | null = null;
  let usage: ReportedUsage | undefined;
  for await (const chunk of chunks) {
    const choice = chunk.choices?.find((c) => c.index === 0) ?? chunk.choices?.[0];
    const text = (choice?.delta?.content ?? '') + (choice?.delta?.refusal ?? '');
    if (choice?.finish_reason) finishReason = choice.finish_reason;
    usage = usageOf(chunk) ?? usage;
    if (text) yield { type: 'delta', text };
  }
  if (usage) yield { type: 'usage', ...usage };
  yield { type: 'done', finishReason };
}

interface ProviderUsage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
  prompt_tokens_details?: { cached_tokens?: unknown } | null;
  completion_tokens_details?: { reasoning_tokens?: unknown } | null;
  /** DeepSeek's count of prompt tokens served from its cache. */
  prompt_cache_hit_tokens?: unknown;
  /** Moonshot's. */
  cached_tokens?: unknown;
}

const count = (n: unknown) => (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined);

/**
 * The usage a chunk reports, if any. Some providers repeat a running usage on every chunk (the
 * last one reported is the total); Moonshot puts it on the last choice. Cached tokens are read
 * from OpenAI's, DeepSeek's and Moonshot's fields, and never counted above the prompt.
 */
export function usageOf(chunk: ChatCompletionChunk): ReportedUsage | undefined {
  const u = (chunk.usage ?? (chunk.choices?.[0] as { usage?: ProviderUsage } | undefined)?.usage) as ProviderUsage | null | undefined;
  if (!u) return undefined;
  const promptTokens = count(u.prompt_tokens);
  const completionTokens = count(u.completion_tokens);
  if (promptTokens === undefined || completionTokens === undefined) return undefined;
  const usage: ReportedUsage = { promptTokens, completionTokens };
  const reasoningTokens = count(u.completion_tokens_details?.reasoning_tokens);
  if (reasoningTokens !== undefined) usage.reasoningTokens = Math.min(reasoningTokens, completionTokens);
  const cachedTokens = count(u.prompt_tokens_details?.cached_tokens) ?? count(u.prompt_cache_hit_tokens) ?? count(u.cached_tokens);
  if (cachedTokens) usage.cachedTokens = Math.min(cachedTokens, promptTokens);
  return usage;
}

/**
 * The SDK's timeout ends when the response headers arrive, so a stream that goes silent halfway
 * would hang for ever. This aborts the request after `ms` without a chunk, through a signal of
 * its own that also follows the caller's (which keeps the SDK's listener off the caller's signal).
 * Arming and disarming only note the time (they run twice a chunk); one timer looks at it, and
 * sets itself again for the rest of the time when chunks kept coming.
 */
class Watchdog {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  /** Since when the upstream is waited on, or undefined while the reader holds a chunk. */
  private waitingSince: number | undefined;
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
    this.waitingSince = performance.now();
    // Unref'd: it may outlive a chunk the reader holds, and the request's socket keeps the process alive anyway.
    this.timer ??= setTimeout(this.look, this.ms).unref();
  }

  disarm(): void {
    this.waitingSince = undefined;
  }

  private readonly look = () => {
    this.timer = undefined;
    if (this.waitingSince === undefined) return; // the reader holds a chunk: arm() sets a timer again
    const silent = performance.now() - this.waitingSince;
    if (silent < this.ms) {
      this.timer = setTimeout(this.look, this.ms - silent).unref();
      return;
    }
    this.timedOut = true;
    this.controller.abort();
  };

  /**
   * `open`: the request may still be open (the caller stopped iterating early, or it failed), so
   * it is aborted. A stream read to its end is not: an abort costs an exception object per call.
   */
  stop(open: boolean): void {
    this.disarm();
    clearTimeout(this.timer);
    this.outer.removeEventListener('abort', this.follow);
    if (open) this.controller.abort();
  }
}
