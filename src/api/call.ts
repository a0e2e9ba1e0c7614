// One /v1/chat/completions call: the same reserve -> call -> settle as a chat turn, with the same
// rules. The hold is sized to the balance, the user's and the key's spend limits, and the call's
// max tokens shrink to it; the provider's chunks are relayed as they come (tool calls included),
// counted, and cut where the hold ends if the provider ignores max_tokens. A client that goes away
// stops the call and is charged the prompt plus what was delivered; an error before any output
// charges nothing; a call is never retried once output went out. The provider's usage settles
// (capped at the hold), else the local count. The route only renders what this answers.
import crypto from 'node:crypto';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { ApiKey } from '../accounts/api-keys';
import { deliveredRecorder, modelCallSignal } from '../chat/model-call';
import type { StopReason } from '../chat/running-turns';
import { liveHolds, REASONING_SILENCE_MS } from '../chat/turn';
import type { TurnQueue } from '../chat/turn-queue';
import { leastCompletion, release, reserve, servedUsage, settleOrRead, type Hold, type Usage } from '../ledger/ledger';
import type { Logger } from '../log';
import { withMargin, type ModelInfo } from '../metering/models';
import { CompletionCounter } from '../metering/tokens';
import type { Store } from '../storage/op';
import { usageOf, type RelayBody, type Served, type Upstream } from '../upstream/client';
import { asUpstreamError, type UpstreamError } from '../upstream/errors';
import { Assembled, outputText } from './assemble';
import { orgLimitError } from './org-limit-error';
import { ApiError, promptTokensOf, type ChatBody } from './request';

export interface ApiDeps {
  store: Store;
  upstream: Upstream;
  queue: TurnQueue;
  logger: Logger;
  /** A user's calls in flight, in every process together (their chat turns count too). */
  perUser: number;
  /** One key's calls in flight in this process. */
  perKey: number;
  /** MIN_COMPLETION_TOKENS (or the call's own max_tokens when fewer). */
  minCompletion?: number;
}

export interface ApiCall {
  key: ApiKey;
  body: ChatBody;
  model: ModelInfo;
  requestId: string;
  /** Aborts when the client goes away. */
  signal: AbortSignal;
}

export type ApiOutcome =
  | { status: 'refused'; error: ApiError }
  | { status: 'done'; completion: Assembled; charge: number }
  /** Failed after output went out: charged prompt + delivered. */
  | { status: 'failed'; error: ApiError; charge: number };

const inFlight = new Map<number, number>();

export const tooMany = (what: string) =>
  new ApiError(429, `Too many requests in flight for this ${what}; wait for one to finish.`, 'rate_limit_error', 'too_many_in_flight', null, { 'Retry-After': '1' });

/**
 * Runs `work` in one of the key's places (API_IN_FLIGHT_PER_KEY, this process) and one of the
 * model API's (the fair queue, UPSTREAM_CONCURRENCY), or refuses with what a client should do.
 */
export async function inSlot<T>(deps: ApiDeps, key: ApiKey, signal: AbortSignal, work: () => Promise<T>): Promise<T | { status: 'refused'; error: ApiError }> {
  const running = inFlight.get(key.id) ?? 0;
  if (running >= deps.perKey) return { status: 'refused', error: tooMany('key') };
  inFlight.set(key.id, running + 1);
  try {
    const admitted = await deps.queue.admit(key.userId, { signal, perUser: deps.perUser });
    if (!admitted.ok) {
      if (admitted.reason === 'queue_full') return { status: 'refused', error: new ApiError(503, 'The server is at capacity; try again shortly.', 'server_error', 'overloaded', null, { 'Retry-After': '5' }) };
      return { status: 'refused', error: admitted.reason === 'per_user' ? tooMany('user') : stoppedBy(signal) };
    }
    try {
      return await work();
    } finally {
      admitted.release();
    }
  } finally {
    const left = (inFlight.get(key.id) ?? 1) - 1;
    if (left > 0) inFlight.set(key.id, left);
    else inFlight.delete(key.id);
  }
}

/** Runs the call; `send` gets each chunk for a streaming client (none before the hold is taken). */
export function runApiCall(deps: ApiDeps, call: ApiCall, send: (chunk: ChatCompletionChunk) => void): Promise<ApiOutcome> {
  return inSlot(deps, call.key, call.signal, () => reserveAndRelay(deps, call, send));
}

export const clientGone = () => new ApiError(499, 'The client closed the request.', 'invalid_request_error', 'client_closed');

/**
 * Why a call's signal aborted, as its client is told (when it is still there to hear it): a
 * stopped call is charged its prompt and what was delivered, as Stop on the page is.
 */
export function stoppedBy(signal: AbortSignal): ApiError {
  switch (signal.reason as StopReason | 'gone') {
    case 'revoked':
      return new ApiError(401, 'This API key was revoked while the request ran; it was stopped and charged for what was sent.', 'invalid_request_error', 'invalid_api_key');
    case 'disabled':
      return new ApiError(401, 'The account this API key belongs to was disabled while the request ran; it was stopped and charged for what was sent.', 'invalid_request_error', 'invalid_api_key');
    case 'shutdown':
      return new ApiError(503, 'The server is restarting; the request was stopped and charged for what was sent.', 'server_error', 'server_shutting_down', null, { 'Retry-After': '1' });
    default:
      return clientGone();
  }
}

async function reserveAndRelay(deps: ApiDeps, call: ApiCall, send: (chunk: ChatCompletionChunk) => void): Promise<ApiOutcome> {
  const { model, key } = call;
  const promptTokens = withMargin(model, await promptTokensOf(call.body, model));
  const room = model.contextWindow - promptTokens;
  if (room < 1) {
    return { status: 'refused', error: new ApiError(400, `The prompt has ${promptTokens} tokens; ${model.id} takes ${model.contextWindow} in all.`, 'invalid_request_error', 'context_length_exceeded', 'messages') };
  }
  const asked = call.body.max_completion_tokens ?? call.body.max_tokens ?? model.maxOutput;
  const least = leastCompletion({ minCompletion: deps.minCompletion, maxCompletion: Math.min(asked, room) });
  const needs = `this request's prompt and ${least} completion ${least === 1 ? 'token' : 'tokens'} (the fewest worth calling the model for)`;
  return withHold(deps, key, model, promptTokens, Math.min(asked, room), { pays: needs, below: needs }, (hold) => relay(deps, call, hold, promptTokens, send));
}

/**
 * Takes the call's hold (limited by the user's and the key's spend limits, and the user's calls in
 * flight) and runs `work` with it marked live, or answers why not; `needs` names what the hold is
 * for in those answers.
 */
export async function withHold<T>(
  deps: ApiDeps, key: ApiKey, model: ModelInfo, promptTokens: number, maxCompletion: number,
  needs: { pays: string; below: string }, work: (hold: Hold) => Promise<T>,
): Promise<T | { status: 'refused'; error: ApiError }> {
  const least = leastCompletion({ minCompletion: deps.minCompletion, maxCompletion });
  if (key.tpm != null && promptTokens + least > key.tpm) {
    // Not even an empty minute would take it: asking again cannot help (no 429, which the SDKs retry).
    return { status: 'refused', error: new ApiError(400, `This request's prompt and ${least} completion tokens are more than this API key's ${key.tpm} tokens per minute.`,
      'invalid_request_error', 'tpm_limit_exceeded', null, { 'x-should-retry': 'false' }) };
  }
  // The turn key is never the client's request id: that could repeat.
  const held = await reserve(deps.store, {
    userId: key.userId, turnKey: `api-${crypto.randomUUID()}`, model, promptTokens, maxCompletion, limits: true, key, maxOpen: deps.perUser,
    minCompletion: deps.minCompletion,
  });
  if (held.status === 'insufficient') {
    return { status: 'refused', error: paymentRequired(`Your balance of ${held.balance} tokens does not pay for ${needs.pays} (${held.missing} more are needed).`, 'insufficient_quota') };
  }
  if (held.status === 'over_limit') {
    return { status: 'refused', error: paymentRequired(`A spend limit (yours or this key's) leaves ${held.allowance} tokens, less than ${needs.below}.`, 'spend_limit_reached') };
  }
  if (held.status === 'rate_limited') return { status: 'refused', error: minuteTokensUsed(held.room, held.retryAfterSeconds) };
  if (held.status === 'busy') return { status: 'refused', error: tooMany('user') };
  if (held.status === 'org_limited') return { status: 'refused', error: orgLimitError(held.refusal) };
  if (held.status !== 'held') throw new Error('a fresh turn key was found in use');
  liveHolds.add(held.hold.id);
  try {
    return await work(held.hold);
  } finally {
    liveHolds.delete(held.hold.id);
  }
}

/** The key's tokens per minute, counted at the reserve: calls in flight hold their prompt and max completion. */
const minuteTokensUsed = (room: number, retryAfterSeconds: number) =>
  new ApiError(429, `This API key's tokens per minute leave ${room} now, fewer than this request's prompt and least completion; try again in ${retryAfterSeconds} s.`,
    'rate_limit_error', 'tpm_limit_reached', null, { 'Retry-After': String(retryAfterSeconds) });

/** 402, never 429: the SDKs retry 429 and 5xx, and an empty balance must not be asked again and again. */
export const paymentRequired = (message: string, code: string) =>
  new ApiError(402, message, 'insufficient_quota', code, null, { 'x-should-retry': 'false' });

/** The client's body as every provider gets it; the router adds the model's name there, the limit and stream_options. */
function relayBody(call: ApiCall): RelayBody {
  const { max_tokens: _m, max_completion_tokens: _c, stream_options: _o, n: _n, model: _id, stream: _s, ...rest } = call.body;
  return rest as RelayBody;
}

async function relay(deps: ApiDeps, call: ApiCall, hold: Hold, promptTokens: number, send: (chunk: ChatCompletionChunk) => void): Promise<ApiOutcome> {
  const { model } = call;
  const includeUsage = call.body.stream === true ? call.body.stream_options?.include_usage === true : true;
  const counter = new CompletionCounter(model.encoding);
  const assembled = new Assembled();
  if (call.signal.aborted) {
    await release(deps.store, hold); // gone before the request went out: nothing to charge
    return { status: 'refused', error: stoppedBy(call.signal) };
  }
  // A client that goes away ends the call at once, except with a model that bills hidden
  // (reasoning) tokens: it is read on, unseen, until the provider's usage arrives.
  const upstreamCall = modelCallSignal(call.signal, model.hiddenTokens);
  const delivered = atTurnEnd(deliveredRecorder(deps.store, hold.id, deps.logger));
  let reported: ReturnType<typeof usageOf>;
  let served: Served | undefined;
  let failure: UpstreamError | undefined;
  let cut = false;
  const started = Date.now();
  try {
    const chunks = deps.upstream.relay({
      body: relayBody(call), model: model.id, maxTokens: hold.maxCompletion, signal: upstreamCall.signal, stop: call.signal, onProvider: (s) => (served = s),
      ...(model.hiddenTokens && { silenceMs: REASONING_SILENCE_MS }),
    });
    for await (const chunk of chunks) {
      reported = usageOf(chunk) ?? reported;
      if (call.signal.aborted) {
        if (reported) upstreamCall.cut(); // what a dropped call was read on for
        continue;
      }
      const text = outputText(chunk);
      const kept = text ? counter.pushWithin(text, hold.maxCompletion) : '';
      if (kept !== text) {
        // The provider ignored max_tokens: the part past the hold is neither sent nor charged.
        cut = true;
        deps.logger.warn({ model: model.id, maxTokens: hold.maxCompletion }, 'the model API ignored max_tokens; the answer was cut off');
        const last = assembled.cutChunk(chunk, kept);
        if (last) send(last);
        upstreamCall.cut();
        break;
      }
      assembled.add(chunk);
      if ((chunk.choices ?? []).length > 0 || includeUsage) send(includeUsage ? chunk : { ...chunk, usage: undefined });
      if (text) delivered(() => counter.tokens);
    }
  } catch (err) {
    failure = asUpstreamError(err);
  } finally {
    upstreamCall.dispose();
    delivered.cancel(); // the close below records the whole call
  }
  const base = { latencyMs: Date.now() - started, apiRequestId: call.requestId, ...servedUsage(served) };
  const local: Usage = { promptTokens, completionTokens: counter.tokens, source: 'estimated', outcome: 'ok', ...base };
  // A dropped call is charged what was sent, as Stop on the page is; only a model that bills hidden
  // reasoning tokens was read on for the provider's usage, which then settles it.
  const trustReported = reported && !cut && (!call.signal.aborted || model.hiddenTokens);
  const usage: Usage = trustReported ? { ...local, ...reported!, source: 'reported' } : local;
  if (call.signal.aborted) {
    const settled = await settleOrRead(deps.store, hold, { ...usage, outcome: 'stopped' });
    if (call.signal.reason === 'shutdown' && call.body.stream !== true && assembled.hasOutput) {
      // The client is still there and was charged for this much: it gets it, cut off as by max_tokens.
      return { status: 'done', completion: completed(assembled, usage, true), charge: settled.charge };
    }
    return { status: 'failed', error: stoppedBy(call.signal), charge: settled.charge };
  }
  if (failure && !cut) {
    if (counter.tokens === 0 && !assembled.hasOutput) {
      await settleOrRead(deps.store, hold, 'release', served); // an error before any output charges nothing
      return { status: 'refused', error: fromUpstream(failure) };
    }
    const settled = await settleOrRead(deps.store, hold, { ...usage, outcome: 'error' });
    return { status: 'failed', error: fromUpstream(failure), charge: settled.charge };
  }
  const settled = await settleOrRead(deps.store, hold, usage);
  return { status: 'done', completion: completed(assembled, usage, cut), charge: settled.charge };
}

/**
 * `record` called with the latest count at the end of the event-loop turn it was last asked in,
 * unless `cancel` came first. A model API that answers at once (the whole reply in one read) is
 * closed in the same turn: its delivered record, which the group commit would have written in
 * the same transaction as the close, is not written at all. A longer call's record is written one
 * turn later than it was asked for, as the close is; a crash before either is written leaves the
 * same hold as before (recovered by what was recorded, released when nothing was).
 */
function atTurnEnd(record: (tokens: () => number) => void): { (tokens: () => number): void; cancel(): void } {
  let latest = () => 0;
  let pending: NodeJS.Immediate | undefined;
  const write = () => {
    pending = undefined;
    record(latest);
  };
  return Object.assign((tokens: () => number) => {
    latest = tokens;
    pending ??= setImmediate(write);
  }, { cancel: () => pending && clearImmediate(pending) });
}

/** The completion as the client gets it: with the usage it was charged, and 'length' when it was cut short. */
function completed(assembled: Assembled, usage: Usage, cut: boolean): Assembled {
  if (cut) assembled.finish('length');
  assembled.usage = { prompt_tokens: usage.promptTokens, completion_tokens: usage.completionTokens, total_tokens: usage.promptTokens + usage.completionTokens };
  return assembled;
}

/** The model API's failure as the client sees it: what it means for them, never the provider's text or key. */
export function fromUpstream(err: UpstreamError): ApiError {
  switch (err.kind) {
    case 'rate_limit':
      return new ApiError(503, 'The model provider is busy; try again shortly.', 'server_error', 'upstream_rate_limited', null, { 'Retry-After': String(err.retryAfterSeconds ?? 5) });
    case 'timeout':
      return new ApiError(504, 'The model provider did not answer in time.', 'server_error', 'upstream_timeout');
    case 'context_length':
      return new ApiError(400, 'The model provider says the prompt is too long for the model.', 'invalid_request_error', 'context_length_exceeded', 'messages');
    case 'bad_request':
      return new ApiError(400, 'The model provider refused the request as invalid.', 'invalid_request_error', 'upstream_bad_request');
    default:
      return new ApiError(502, 'The model provider failed to answer.', 'server_error', 'upstream_error');
  }
}
