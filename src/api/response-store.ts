// The responses /v1/responses keeps, so a conversation can continue from one (previous_response_id,
// an item_reference) and a client can read or delete it: each one its key's alone, swept after
// RESPONSES_KEEP_DAYS. What is kept is no money: a failed save loses a continuation, not a charge.
import { query, type Op } from '../storage/op';
import type { ChatMessage, OutputItem } from './responses-input';

export interface StoredResponse {
  /** The conversation up to and including this response's output, as chat messages (without instructions). */
  history: ChatMessage[];
  /** The response object as its client got it. */
  response: { output: OutputItem[] } & Record<string, unknown>;
}

export function* saveResponse(row: { id: string; userId: number; keyId: number; at: Date; history: ChatMessage[]; response: object }): Op<void> {
  yield* query('responses.save', {
    id: row.id, userId: row.userId, keyId: row.keyId, createdAt: row.at.toISOString(), history: JSON.stringify(row.history), response: JSON.stringify(row.response),
  });
}

export function* loadResponse(keyId: number, id: string): Op<StoredResponse | undefined> {
  const row = yield* query('responses.load', { id, keyId });
  return row && { history: JSON.parse(row.history) as ChatMessage[], response: JSON.parse(row.response) as StoredResponse['response'] };
}

/** The response object alone: an item reference needs its output, not the conversation before it. */
export function* loadResponseObject(keyId: number, id: string): Op<StoredResponse['response'] | undefined> {
  const text = yield* query('responses.output', { id, keyId });
  return text === undefined ? undefined : (JSON.parse(text) as StoredResponse['response']);
}

export function* deleteResponse(keyId: number, id: string): Op<boolean> {
  return (yield* query('responses.delete', { id, keyId })).changes > 0;
}

/** Forgets responses older than `keepDays`. */
export function* pruneResponses(keepDays: number, now = new Date()): Op<number> {
  return (yield* query('responses.prune', { before: new Date(now.getTime() - keepDays * 86_400_000).toISOString() })).changes;
}
