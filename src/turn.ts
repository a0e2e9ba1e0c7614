// One chat turn, as DESIGN.md's ledger section orders it: fit the history to the context window
// and count the prompt -> wait for an upstream slot -> reserve (spend limits are read inside its
// transaction) -> store the turn -> stream, recording what was delivered -> settle to the real
// usage (or release when nothing came).
// Routes only render the events; every rule about money and history lives here.
import { addTurn, finishMessage, findMessageByHold, historyFor, lastMessageId, type Conversation, type Message, type Settings, type TurnMode } from './chat';
import { balanceOf, recordDelivered, release, reserve, settleOrRead } from './ledger';
import type { Logger } from './log';
import { priceOf, type ModelInfo } from './models';
import { checkSpendLimits, spendAllowance } from './spend-limits';
import { CompletionCounter, countPromptTokens } from './tokens';
import type { TurnQueue } from './turn-queue';
import { UpstreamError, type ChatMessage, type Upstream } from './upstream';
import type { Op, Store } from './storage/op';

/** Completion tokens asked for when the user sets no max tokens. */
export const DEFAULT_MAX_TOKENS = 2048;
/** The history is cut so that at least this many completion tokens (or max tokens, if fewer) fit. */
const MIN_ROOM = 256;
/** How often the tokens delivered so far are written to the hold, for crash recovery. */
const DELIVERED_EVERY_MS = 1000;
/** Completion tokens past max_tokens tolerated before an answer is cut off. */
const OVERRUN_SLACK = 16;

export interface TurnDeps {
  store: Store;
  upstream: Upstream;
  queue: TurnQueue;
  logger: Logger;
}

export interface TurnInput {
  userId: number;
  conversation: Conversation;
  /** Send adds `text`; Retry answers the last question again; Edit replaces it with `text` first. */
  mode: TurnMode;
  text: string;
  settings: Settings;
  model: ModelInfo;
  turnKey: string;
  signal: AbortSignal;
  /** Leave out the older half of the history (offered after a context-length error). */
  trim?: boolean;
}

export type Refusal =
  | { reason: 'insufficient'; missing: number; balance: number }
  | { reason: 'per_message' | 'per_day'; limit: number; spent: number; estimate: number }
  | { reason: 'busy' | 'queue_full' | 'too_long' | 'aborted' | 'nothing' | 'answering' | 'changed' };

export type TurnEvent =
  | { type: 'queued'; position: number }
  | { type: 'start'; user?: Message; assistant: Message; dropped: number; removed: number[]; mode: TurnMode }
  | { type: 'delta'; text: string }
  | { type: 'end'; message: Message; balance: number };

export type TurnResult =
  | { status: 'refused'; refusal: Refusal }
  | { status: 'duplicate'; message?: Message; balance: number }
  | { status: 'done'; message: Message; balance: number };

interface Prompt {
  messages: ChatMessage[];
  promptTokens: number;
  dropped: number;
}

/** The messages a model is sent: the system prompt, when there is one, then the history. */
export function withSystem(system: string, history: ChatMessage[]): ChatMessage[] {
  return system.trim() ? [{ role: 'system', content: system }, ...history] : history;
}

/** The prompt: system, as much history as fits (oldest dropped first), and the new message. */
export async function fitPrompt(history: ChatMessage[], system: string, model: ModelInfo, room: number): Promise<Prompt | undefined> {
  for (let dropped = 0; dropped < history.length; dropped++) {
    // Never start the history with an answer whose question was dropped.
    if (history[dropped]!.role === 'assistant') continue;
    const messages = withSystem(system, history.slice(dropped));
    const { total } = await countPromptTokens({ model: model.id, messages }, { encoding: model.encoding });
    if (total + room <= model.contextWindow) return { messages, promptTokens: total, dropped };
  }
  return undefined;
}

/** Holds of turns running in this process, which the recovery sweep must leave alone. */
export const liveHolds = new Set<number>();

/** The turn's history and the last message id it was read at, in one read. */
function* historyAndBasis(conversationId: number, mode: TurnMode, text: string): Op<{ history: ChatMessage[]; basis: number } | undefined> {
  const history = yield* historyFor(conversationId, mode, text);
  return history && { history, basis: yield* lastMessageId(conversationId) };
}

type Refused = { status: 'refused'; refusal: Refusal };
const refused = (refusal: Refusal): Refused => ({ status: 'refused', refusal });

export async function runTurn(deps: TurnDeps, input: TurnInput, emit: (event: TurnEvent) => void): Promise<TurnResult> {
  const { store } = deps;
  const { model, userId } = input;
  // Nothing is changed before the hold is taken: a refused Retry or Edit leaves the transcript as it was.
  // `basis`: the turn is stored only if nothing changed since.
  const read = await store.read(historyAndBasis, input.conversation.id, input.mode, input.text);
  if (!read) return refused({ reason: 'nothing' });
  const { history, basis } = read;
  const wanted = input.settings.maxTokens ?? DEFAULT_MAX_TOKENS;
  // The provider may count more than the models file says fits (a smaller real window): on
  // request, the older half of the history is left out before fitting the rest.
  const skipped = input.trim ? Math.floor(history.length / 2) : 0;
  const fitted = await fitPrompt(history.slice(skipped), input.settings.systemPrompt, model, Math.min(wanted, MIN_ROOM));
  if (!fitted) return refused({ reason: 'too_long' });
  const prompt = { ...fitted, dropped: fitted.dropped + skipped };

  const admitted = await deps.queue.admit(userId, { signal: input.signal, onPosition: (position) => emit({ type: 'queued', position }) });
  if (!admitted.ok) return refused({ reason: admitted.reason === 'per_user' ? 'busy' : admitted.reason });
  let holdId: number | undefined;
  try {
    if (input.signal.aborted) return refused({ reason: 'aborted' }); // stopped while it waited
    // Spend limits are read inside the reserve's transaction: the turn shrinks to fit them, and
    // turns that reserve together (other tabs, other processes) cannot pass them together.
    const held = await reserve(store, {
      userId, turnKey: input.turnKey, model, promptTokens: prompt.promptTokens,
      maxCompletion: Math.min(wanted, model.contextWindow - prompt.promptTokens), allowance: spendAllowance,
    });
    if (held.status === 'over_limit') return await overLimit(store, userId, model, prompt.promptTokens);
    if (held.status === 'insufficient') return refused({ reason: 'insufficient', missing: held.missing, balance: held.balance });
    if (held.status === 'duplicate') return { status: 'duplicate', message: await store.read(findMessageByHold, held.hold.id), balance: held.balance };
    holdId = held.hold.id;
    liveHolds.add(holdId);
    let stored;
    try {
      stored = await store.write(addTurn, input.conversation.id, input.mode, input.text, model.id, holdId, basis);
    } catch (err) {
      await release(store, holdId); // never leave a hold behind a turn that could not be stored
      throw err;
    }
    if (!stored) {
      await release(store, holdId);
      return refused({ reason: 'changed' });
    }
    emit({ type: 'start', user: stored.user, assistant: stored.assistant, dropped: prompt.dropped, removed: stored.removed, mode: input.mode });
    const turn = { ...prompt, holdId, maxTokens: held.hold.maxCompletion, requested: wanted, assistant: stored.assistant };
    const message = await streamAnswer(deps, input, turn, emit);
    const balance = await store.read(balanceOf, userId);
    emit({ type: 'end', message, balance });
    return { status: 'done', message, balance };
  } finally {
    if (holdId !== undefined) liveHolds.delete(holdId);
    admitted.release();
  }
}

/** Which spend limit refused the turn (not even the prompt and one completion token fit). */
async function overLimit(store: Store, userId: number, model: ModelInfo, promptTokens: number): Promise<Refused> {
  const estimate = priceOf(model, promptTokens, 1);
  const verdict = await store.read(checkSpendLimits, userId, estimate);
  // Read again after the reserve: a turn that ended in between can have made room. Rare; try again.
  if (verdict.ok) return refused({ reason: 'changed' });
  return refused({ reason: verdict.reason, limit: verdict.limit, spent: verdict.spentToday ?? 0, estimate });
}

interface Running extends Prompt {
  holdId: number;
  /** What the hold pays for, and what was asked for (the setting, or the default). */
  maxTokens: number;
  requested: number;
  assistant: Message;
}

async function streamAnswer(deps: TurnDeps, input: TurnInput, turn: Running, emit: (event: TurnEvent) => void): Promise<Message> {
  const { store } = deps;
  const counter = new CompletionCounter(input.model.encoding);
  const started = Date.now();
  let reported: { promptTokens: number; completionTokens: number } | undefined;
  let finishReason: string | null = null;
  let failure: UpstreamError | undefined;
  let lastWrite = 0; // the first delta is recorded at once, then once a second
  // A server that ignores max_tokens is cut off once the answer passes what the hold pays for
  // (with a little slack for tokenizers that disagree), so spend limits hold against it too.
  const cutoff = new AbortController();
  const onAbort = () => cutoff.abort();
  input.signal.addEventListener('abort', onAbort, { once: true });
  let overran = false;
  try {
    const stream = deps.upstream.stream({
      model: input.model.id, messages: turn.messages, maxTokens: turn.maxTokens,
      temperature: input.settings.temperature ?? undefined, signal: cutoff.signal,
    });
    for await (const event of stream) {
      if (event.type === 'usage') reported = { promptTokens: event.promptTokens, completionTokens: event.completionTokens };
      if (event.type === 'done') finishReason = event.finishReason;
      if (event.type !== 'delta' || event.text === '') continue;
      counter.push(event.text);
      emit({ type: 'delta', text: event.text });
      if (counter.tokens > turn.maxTokens + OVERRUN_SLACK) {
        overran = true;
        deps.logger.warn({ model: input.model.id, maxTokens: turn.maxTokens }, 'the model API ignored max_tokens; the answer was cut off');
        cutoff.abort();
        break;
      }
      if (Date.now() - lastWrite >= DELIVERED_EVERY_MS) {
        // Not awaited: the stream goes on while it is written; a failure is only logged.
        void recordDelivered(store, turn.holdId, counter.tokens).catch((err) =>
          deps.logger.error({ err, holdId: turn.holdId }, 'recording the tokens delivered failed'),
        );
        lastWrite = Date.now();
      }
    }
  } catch (err) {
    failure = err instanceof UpstreamError ? err : new UpstreamError('server', (err as Error).message ?? String(err), { cause: err });
  } finally {
    input.signal.removeEventListener('abort', onAbort);
  }
  if (overran) failure = undefined;
  const stopped = input.signal.aborted || failure?.kind === 'aborted';
  // What arrived, but never more than the hold was taken for.
  const delivered = Math.min(counter.tokens, turn.maxTokens);
  const base = { content: counter.text, promptTokens: turn.promptTokens, dropped: turn.dropped, holdId: turn.holdId };
  const usageRefs = { latencyMs: Date.now() - started, conversationId: input.conversation.id, messageId: turn.assistant.id };
  if (failure && !stopped && delivered === 0) {
    // Nothing came back: the turn costs nothing.
    await settleOrRead(store, turn.holdId, 'release');
    deps.logger.warn({ kind: failure.kind, status: failure.status, err: failure.message }, 'upstream failed before any output');
    const final = { ...base, status: 'error', error: errorCode(failure), completionTokens: 0, charge: 0, source: null } as const;
    await store.write(finishMessage, turn.assistant.id, final);
    return { ...turn.assistant, ...final };
  }
  // The provider's figures when the stream completed with them; else the prompt and what arrived.
  const trusted = !failure && !stopped && !overran ? reported : undefined;
  const usage = trusted ?? { promptTokens: turn.promptTokens, completionTokens: delivered };
  const source = trusted ? 'reported' : 'estimated';
  if (source === 'reported' && usage.completionTokens !== delivered) {
    deps.logger.info({ reported: usage.completionTokens, counted: delivered, model: input.model.id }, 'provider completion count differs from the local count');
  }
  const outcome = stopped ? 'stopped' : failure ? 'error' : 'ok';
  const settled = await settleOrRead(store, turn.holdId, { ...usage, source, outcome, ...usageRefs });
  const status = stopped ? 'stopped' : failure ? 'error' : 'done';
  const error = failure && !stopped ? errorCode(failure) : null;
  // Ended at what the balance or a spend limit paid for, when more was asked for: the page says so.
  const atLimit = overran || finishReason === 'length' || delivered >= turn.maxTokens;
  const cutShort = status === 'done' && atLimit && turn.maxTokens < turn.requested ? turn.maxTokens : null;
  const final = { ...base, promptTokens: usage.promptTokens, completionTokens: usage.completionTokens, charge: settled.charge, source, status, error, cutShort } as const;
  await store.write(finishMessage, turn.assistant.id, final);
  return { ...turn.assistant, ...final };
}

/** What the page says about a failure: the kind, and for a rate limit when to retry. */
function errorCode(err: UpstreamError): string {
  return err.kind === 'rate_limit' && err.retryAfterSeconds !== undefined ? `rate_limit:${err.retryAfterSeconds}` : err.kind;
}
