// What an answer being written has cost so far, as its hold records it: the prompt and the answer
// tokens delivered (written once a second by the turn, for crash recovery), at the rates the hold
// was taken at, which is what Stop would charge. For a page that shows the answer without getting
// its pieces from this process: without JavaScript, or while another server process writes it.
import { priceOf } from '../metering/models';
import { query, type Op } from '../storage/op';
import { findMessage, type Message } from './conversations';

export interface CostSoFar {
  /** Answer tokens delivered so far. */
  tokens: number;
  /** The prompt and those tokens, in balance tokens. */
  charge: number;
  /** What a later count is priced by: the hold's rates and its prompt. */
  meter: { model: { promptRate: number; completionRate: number }; promptTokens: number };
}

/** The cost so far of an answer being written; undefined once its hold is closed (or it has none). */
export function* costSoFar(message: Pick<Message, 'status' | 'holdId'>): Op<CostSoFar | undefined> {
  if (message.status !== 'streaming' || message.holdId === null) return undefined;
  const hold = yield* query('ledger.soFar', { id: message.holdId });
  if (!hold) return undefined;
  const meter = { model: { promptRate: hold.promptRate, completionRate: hold.completionRate }, promptTokens: hold.promptTokens };
  return { tokens: hold.delivered, charge: priceOf(meter.model, hold.promptTokens, hold.delivered), meter };
}

/** A message and, while it is being written, its cost so far: one read for a page following it. */
export function* messageSoFar(conversationId: number, id: number): Op<{ message: Message; soFar?: CostSoFar } | undefined> {
  const message = yield* findMessage(conversationId, id);
  return message && { message, soFar: yield* costSoFar(message) };
}
