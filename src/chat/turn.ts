// One chat turn, as DESIGN.md's ledger section orders it: wait for an upstream slot -> fit the
// history to the context window and count the prompt -> reserve (spend limits are read inside its
// transaction) -> store the turn -> stream, recording what was delivered -> settle to the real
// usage (or release when nothing came).
// Routes only render the events; every rule about money and history lives here.
import {
  addTurn, finishMessage, findMessageByHold, historyFor, type Conversation, type HistoryMessage, type Message, type Settings, type TokenCounts, type TurnMode,
} from './conversations';
import { countHistory } from './history-tokens';
import { heldBy, holdClosed, leastCompletion, release, reserve, servedUsage, settleOrRead, type HoldTerms } from '../ledger/ledger';
import { deliveredRecorder, modelCallSignal, streamedRecorder } from './model-call';
import type { Logger } from '../log';
import { DEFAULT_MAX_OUTPUT, priceOf, withMargin, type ModelInfo } from '../metering/models';
import { checkSpendLimits } from '../ledger/spend-limits';
import { walletOf, type Wallet } from '../ledger/buckets';
import type { OrgRefusal } from '../ledger/org-limits';
import { CompletionCounter } from '../metering/tokens';
import type { TurnQueue } from './turn-queue';
import type { ChatMessage, ReportedUsage, Served, Upstream } from '../upstream/client';
import type { UpstreamError } from '../upstream/errors';
import { asUpstreamError } from '../upstream/errors';
import * as metrics from '../metrics';
import type { Store } from '../storage/op';
import { contentOf, inlineImages } from '../attachments/content';
import type { AttachmentInfo } from '../attachments/attachments';

/** Completion tokens asked for when neither the user nor the models file says (max_output). */
export const DEFAULT_MAX_TOKENS = DEFAULT_MAX_OUTPUT;
/** How often a turn waiting for the user's own running answers looks again (they may run in another process). */
const HOLD_POLL_MS = 250;
/** The history is cut so that at least this many completion tokens (or max tokens, if fewer) fit. */
export const MIN_ROOM = 256;
export { HIDDEN_USAGE_WAIT_MS } from './model-call';
/** How long a model with hidden tokens may think in silence before the call counts as failed. */
export const REASONING_SILENCE_MS = 10 * 60_000;

export interface TurnDeps {
  store: Store;
  /** Turns one user may have running at once in all server processes together (TURNS_PER_USER); the queue caps this process. */
  turnsPerUser?: number;
  /** MIN_COMPLETION_TOKENS: a balance that pays for fewer answer tokens refuses the turn. */
  minCompletion?: number;
  upstream: Upstream;
  queue: TurnQueue;
  logger: Logger;
}

export interface TurnInput {
  userId: number;
  conversation: Conversation;
  /** Send adds `text`; Retry answers a question again; Edit adds `text` as a new version of one, then answers it. */
  mode: TurnMode;
  text: string;
  /** The question Retry or Edit acts on (any question of the thread shown); the last one when not given. */
  target?: number;
  settings: Settings;
  model: ModelInfo;
  turnKey: string;
  signal: AbortSignal;
  /** Leave out the older half of the history (offered after a context-length error). */
  trim?: boolean;
  /** The user's pending files sent with `text` (the route checked they are theirs, and images only to a vision model). */
  attachments?: AttachmentInfo[];
}

export type Refusal =
  | { reason: 'insufficient'; missing: number; balance: number; least: number }
  | { reason: 'per_message' | 'per_day'; limit: number; spent: number; estimate: number }
  /** A limit the organisation set (a group's, or the administrator's for this user). */
  | { reason: 'org'; refusal: OrgRefusal }
  | { reason: 'busy' | 'queue_full' | 'too_long' | 'aborted' | 'nothing' | 'answering' | 'changed' };

export type TurnEvent =
  | { type: 'queued'; position: number }
  | { type: 'waiting' }
  /** Stopped, but a model with hidden tokens is read on for its usage (HIDDEN_USAGE_WAIT_MS at most). */
  | { type: 'stopping' }
  /** `model` at the user's price and `promptTokens` as held: what the answer so far costs is priceOf(model, promptTokens, tokens). */
  | { type: 'start'; user?: Message; assistant: Message; dropped: number; mode: TurnMode; model: ModelInfo; promptTokens: number }
  /** `tokens`: the answer's completion tokens so far, counted when asked (a render, not every piece). */
  | { type: 'delta'; text: string; tokens: () => number }
  /** `wallet`: own tokens and allowance, read after the settle. */
  | { type: 'end'; message: Message; wallet: Wallet };

export type TurnResult =
  | { status: 'refused'; refusal: Refusal }
  | { status: 'duplicate'; message?: Message; balance: number }
  | { status: 'done'; message: Message; balance: number };

interface Prompt {
  messages: ChatMessage[];
  promptTokens: number;
  dropped: number;
  /** Counts made while fitting, stored with the turn's messages. */
  counts: TokenCounts;
}

/** The messages a model is sent: the system prompt, when there is one, then the history. */
export function withSystem(system: string, history: ChatMessage[]): ChatMessage[] {
  return system.trim() ? [{ role: 'system', content: system }, ...history] : history;
}

/**
 * The prompt: system, as much history as fits (oldest dropped first), and the new message. The
 * history is counted once, mostly from the counts stored with its messages, and each dropped
 * message subtracts its own share: the total stays exactly countPromptTokens' for what is sent
 * (plus the model's margin, for a model whose provider counts with another tokenizer).
 */
export async function fitPrompt(history: HistoryMessage[], system: string, model: ModelInfo, room: number): Promise<Prompt | undefined> {
  const { total, perMessage, fresh } = await countHistory(history, system, model);
  let promptTokens = total;
  for (let dropped = 0; dropped < history.length; dropped++) {
    // Never start the history with an answer whose question was dropped.
    if (history[dropped]!.role !== 'assistant' && withMargin(model, promptTokens) + room <= model.contextWindow) {
      const messages = withSystem(system, history.slice(dropped).map((m) => ({ role: m.role, content: contentOf(m, model.vision ?? false) })));
      return { messages, promptTokens: withMargin(model, promptTokens), dropped, counts: fresh };
    }
    promptTokens -= perMessage[dropped]!;
  }
  return undefined;
}

/** Holds of turns running in this process, which the recovery sweep must leave alone. */
export const liveHolds = new Set<number>();

type Refused = { status: 'refused'; refusal: Refusal };
const refused = (refusal: Refusal): Refused => ({ status: 'refused', refusal });

export async function runTurn(deps: TurnDeps, input: TurnInput, emit: (event: TurnEvent) => void): Promise<TurnResult> {
  const { store } = deps;
  const { model, userId } = input;
  // Nothing is changed before the hold is taken: a refused Retry or Edit leaves the transcript as it was.
  // `basis`: the turn is stored only if nothing changed since.
  const read = await store.read(historyFor, input.conversation.id, input.mode, input.text, input.target, input.attachments);
  if (!read) return refused({ reason: 'nothing' });
  const { history, basis } = read;
  // Admitted before counting: the tokenizer's work is bounded by the per-user cap (TURNS_PER_USER),
  // so a user's extra turns, however long their text, are refused before any of it.
  const admitted = await deps.queue.admit(userId, { signal: input.signal, onPosition: (position) => emit({ type: 'queued', position }) });
  if (!admitted.ok) return refused({ reason: admitted.reason === 'per_user' ? 'busy' : admitted.reason });
  let holdId: number | undefined;
  try {
    if (input.signal.aborted) return refused({ reason: 'aborted' }); // stopped while it waited
    const wanted = input.settings.maxTokens ?? model.maxOutput; // the models file's ceiling, 2048 unless it says
    // The provider may count more than the models file says fits (a smaller real window): on
    // request, the older half of the history is left out before fitting the rest.
    const skipped = input.trim ? Math.floor(history.length / 2) : 0;
    const fitted = await fitPrompt(history.slice(skipped), input.settings.systemPrompt, model, Math.min(wanted, MIN_ROOM));
    if (!fitted) return refused({ reason: 'too_long' });
    const prompt = { ...fitted, dropped: fitted.dropped + skipped };
    // Spend limits are read inside the reserve's transaction: the turn shrinks to fit them, and
    // turns that reserve together (other tabs, other processes) cannot pass them together.
    const request = {
      userId, turnKey: input.turnKey, model, promptTokens: prompt.promptTokens,
      maxCompletion: Math.min(wanted, model.contextWindow - prompt.promptTokens), limits: true, maxOpen: deps.turnsPerUser, minCompletion: deps.minCompletion,
    };
    let held = await reserve(store, request);
    // Refused only because the user's own answers still running hold the balance: wait for one of
    // them to settle (the page says so, and Stop ends the wait) instead of failing.
    while (held.status === 'insufficient' && !input.signal.aborted && (await store.read(heldBy, userId)) >= held.missing) {
      emit({ type: 'waiting' });
      await holdClosed(userId, input.signal, HOLD_POLL_MS);
      held = await reserve(store, request);
    }
    if (input.signal.aborted && held.status !== 'held') return refused({ reason: 'aborted' });
    // This user's turns on other processes ('rate_limited' is a key's, and a page turn has none).
    if (held.status === 'busy' || held.status === 'rate_limited') return refused({ reason: 'busy' });
    if (held.status === 'org_limited') return refused({ reason: 'org', refusal: held.refusal });
    if (held.status === 'over_limit') return await overLimit(store, userId, model, prompt.promptTokens, leastCompletion(request));
    if (held.status === 'insufficient') return refused({ reason: 'insufficient', missing: held.missing, balance: held.balance, least: leastCompletion(request) });
    if (held.status === 'duplicate') return { status: 'duplicate', message: await store.read(findMessageByHold, held.hold.id), balance: held.balance };
    holdId = held.hold.id;
    liveHolds.add(holdId);
    let stored;
    try {
      const files = { userId, ids: (input.attachments ?? []).map((a) => a.id) };
      stored = await store.write(addTurn, input.conversation.id, input.mode, input.text, model.id, holdId, basis, prompt.counts, input.target, files);
    } catch (err) {
      await release(store, held.hold); // never leave a hold behind a turn that could not be stored
      throw err;
    }
    if (!stored) {
      await release(store, held.hold);
      return refused({ reason: 'changed' });
    }
    // The question's files go with it to the page (its thumbnails and chips).
    const user = stored.user && Object.assign(stored.user, { files: input.attachments ?? [] });
    emit({ type: 'start', user, assistant: stored.assistant, dropped: prompt.dropped, mode: input.mode, model, promptTokens: prompt.promptTokens });
    // Images go as data URIs, read for this request only.
    const turn = { ...prompt, messages: await store.read(inlineImages, userId, prompt.messages), holdId, hold: held.hold, maxTokens: held.hold.maxCompletion, requested: wanted, assistant: stored.assistant };
    const message = await streamAnswer(deps, input, turn, emit);
    const wallet = await store.read(walletOf, userId, new Date());
    emit({ type: 'end', message, wallet });
    return { status: 'done', message, balance: wallet.total }; // own tokens and allowance together
  } finally {
    if (holdId !== undefined) liveHolds.delete(holdId);
    admitted.release();
  }
}

/** Which spend limit refused the turn (not even the prompt and the fewest answer tokens worth calling for fit). */
async function overLimit(store: Store, userId: number, model: ModelInfo, promptTokens: number, least: number): Promise<Refused> {
  const estimate = priceOf(model, promptTokens, least);
  const verdict = await store.read(checkSpendLimits, userId, estimate);
  // Read again after the reserve: a turn that ended in between can have made room. Rare; try again.
  if (verdict.ok) return refused({ reason: 'changed' });
  return refused({ reason: verdict.reason, limit: verdict.limit, spent: verdict.spentToday ?? 0, estimate });
}

interface Running extends Prompt {
  holdId: number;
  /** The hold's terms, so its settle is one statement. */
  hold: HoldTerms;
  /** What the hold pays for, and what was asked for (the setting, or the default). */
  maxTokens: number;
  requested: number;
  assistant: Message;
}

async function streamAnswer(deps: TurnDeps, input: TurnInput, turn: Running, emit: (event: TurnEvent) => void): Promise<Message> {
  const { store } = deps;
  const counter = new CompletionCounter(input.model.encoding);
  const soFar = () => counter.tokens;
  const started = Date.now();
  let reported: ReportedUsage | undefined;
  let served: Served | undefined;
  let finishReason: string | null = null;
  let failure: UpstreamError | undefined;
  const recordSoFar = deliveredRecorder(store, turn.holdId, deps.logger);
  const keepSoFar = streamedRecorder(store, turn.assistant.id, deps.logger);
  // A server that ignores max_tokens is cut off where the answer reaches what the hold pays for,
  // before the cut part is shown, so what is shown is what is charged and spend limits hold.
  // Stop ends the upstream call at once, except for a model that bills hidden (reasoning) tokens:
  // its answer is no longer shown but read on for the provider's usage (modelCallSignal).
  if (input.signal.aborted) return notSent(deps, input, turn); // stopped while the hold was taken
  const cutoff = modelCallSignal(input.signal, input.model.hiddenTokens, () => emit({ type: 'stopping' }));
  let overran = false;
  try {
    const stream = deps.upstream.stream({
      model: input.model.id, messages: turn.messages, maxTokens: turn.maxTokens,
      temperature: input.settings.temperature ?? undefined, signal: cutoff.signal, stop: input.signal, onProvider: (s) => (served = s),
      ...(input.model.hiddenTokens && { silenceMs: REASONING_SILENCE_MS }),
    });
    for await (const event of stream) {
      if (event.type === 'usage') {
        const { type: _t, ...usage } = event;
        reported = usage;
        if (input.signal.aborted) cutoff.cut(); // what a stopped answer was read on for
      }
      if (event.type === 'done') finishReason = event.finishReason;
      if (event.type !== 'delta' || event.text === '' || input.signal.aborted) continue;
      const shown = counter.pushWithin(event.text, turn.maxTokens);
      if (shown) emit({ type: 'delta', text: shown, tokens: soFar });
      if (shown !== event.text) {
        overran = true;
        deps.logger.warn({ model: input.model.id, maxTokens: turn.maxTokens }, 'the model API ignored max_tokens; the answer was cut off');
        cutoff.cut();
        break;
      }
      recordSoFar(soFar);
      keepSoFar(() => counter.text);
    }
  } catch (err) {
    failure = asUpstreamError(err);
  } finally {
    cutoff.dispose();
  }
  if (overran) failure = undefined;
  const stopped = input.signal.aborted || failure?.kind === 'aborted';
  // What was shown: never more than the hold was taken for (pushWithin).
  const delivered = counter.tokens;
  const base = { content: counter.text, promptTokens: turn.promptTokens, dropped: turn.dropped, holdId: turn.holdId };
  const usageRefs = {
    latencyMs: Date.now() - started, conversationId: input.conversation.id, messageId: turn.assistant.id,
    ...servedUsage(served),
  };
  metrics.upstreamLatency.observe(usageRefs.latencyMs / 1000);
  if (failure && !stopped) metrics.upstreamErrors.inc({ kind: failure.kind });
  if (failure && !stopped && delivered === 0) {
    metrics.turns.inc({ outcome: 'error' });
    // Nothing came back: the turn costs nothing. The message is finished in the release's transaction.
    const final = { ...base, status: 'error', error: errorCode(failure), completionTokens: 0, charge: 0, source: null, provider: served?.provider ?? null } as const;
    const finish = () => finishMessage(turn.assistant.id, final);
    const released = await settleOrRead(store, turn.hold, 'release', served, finish);
    deps.logger.warn({ kind: failure.kind, status: failure.status, err: failure.message }, 'upstream failed before any output');
    if (!released.afterWritten) await store.write(finish);
    return { ...turn.assistant, ...final };
  }
  // The provider's figures when the stream completed with them, or when a stopped answer of a
  // model with hidden tokens was read on until they came; else the prompt and what was shown.
  // The ledger never charges past the hold, whatever the provider reports.
  const trusted = overran ? undefined : stopped ? (input.model.hiddenTokens ? reported : undefined) : failure ? undefined : reported;
  const usage = trusted ?? { promptTokens: turn.promptTokens, completionTokens: delivered };
  const source = trusted ? 'reported' : 'estimated';
  if (source === 'reported' && usage.completionTokens !== delivered) {
    deps.logger.info({ reported: usage.completionTokens, counted: delivered, model: input.model.id }, 'provider completion count differs from the local count');
  }
  const outcome = stopped ? 'stopped' : failure ? 'error' : 'ok';
  const status = stopped ? 'stopped' : failure ? 'error' : 'done';
  const error = failure && !stopped ? errorCode(failure) : null;
  // Ended at what the balance or a spend limit paid for, when more was asked for: the page says so.
  const atLimit = overran || finishReason === 'length' || delivered >= turn.maxTokens;
  const cutShort = status === 'done' && atLimit && turn.maxTokens < turn.requested ? turn.maxTokens : null;
  const reasoningTokens = trusted?.reasoningTokens || null; // the footer says the charge includes them
  const cachedTokens = trusted?.cachedTokens || null; // and how many prompt tokens were cached
  const ending = {
    ...base, promptTokens: usage.promptTokens, completionTokens: usage.completionTokens, source, status, error, cutShort,
    reasoningTokens, cachedTokens, provider: served?.provider ?? null,
  } as const;
  // The message is finished with the charge in the settle's own transaction: one commit, and the
  // message never says another charge than the ledger's.
  const finish = (charge: number) => finishMessage(turn.assistant.id, { ...ending, charge });
  const settled = await settleOrRead(store, turn.hold, { ...usage, source, outcome, ...usageRefs }, undefined, finish);
  metrics.turns.inc({ outcome });
  metrics.tokensCharged.inc(settled.charge);
  metrics.tokensUncollected.inc(settled.uncollected);
  if (!settled.afterWritten) await store.write(finish, settled.charge); // closed elsewhere: with what that close charged
  return { ...turn.assistant, ...ending, charge: settled.charge };
}

/** A turn stopped after its hold was taken but before the request went out: nothing sent, nothing charged. */
async function notSent(deps: TurnDeps, input: TurnInput, turn: Running): Promise<Message> {
  await settleOrRead(deps.store, turn.hold, { promptTokens: 0, completionTokens: 0, source: 'estimated', outcome: 'stopped', conversationId: input.conversation.id, messageId: turn.assistant.id });
  const final = { content: '', promptTokens: 0, dropped: turn.dropped, holdId: turn.holdId, completionTokens: 0, charge: 0, source: null, status: 'stopped', error: null, cutShort: null } as const;
  await deps.store.write(finishMessage, turn.assistant.id, final);
  return { ...turn.assistant, ...final };
}

/** What the page says about a failure: the kind, and for a rate limit when to retry. */
function errorCode(err: UpstreamError): string {
  return err.kind === 'rate_limit' && err.retryAfterSeconds !== undefined ? `rate_limit:${err.retryAfterSeconds}` : err.kind;
}
