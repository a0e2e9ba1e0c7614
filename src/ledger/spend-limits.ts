// Spend limits a user sets on themselves: the most balance tokens one message may cost, and the
// most they may spend in one day (UTC). Owns the spend_limits table.
//
// A turn passes `spendAllowance` (an operation) to ledger.reserve, which runs it inside its write
// transaction: the turn's completion shrinks to fit, and when not even one completion token fits
// the reserve answers 'over_limit' and checkSpendLimits says which limit and by how much. Reading
// it inside the transaction means turns reserving at once (tabs, processes) cannot pass a limit
// together. "Today" is since 00:00 UTC: turns that ended today at their charge, plus turns still
// in flight at their hold.
import { query, type Op } from '../storage/op';
import type { SpendLimits } from '../storage/queries/spend';

export type { SpendLimits } from '../storage/queries/spend';

export type SpendVerdict =
  | { ok: true }
  | { ok: false; reason: 'per_message' | 'per_day'; limit: number; spentToday?: number };

/** 00:00 UTC of the day `now` falls in, as the ISO text the tables store. */
export function startOfUtcDay(now = new Date()): string {
  return `${now.toISOString().slice(0, 10)}T00:00:00.000Z`;
}

export function* getSpendLimits(userId: number): Op<SpendLimits> {
  const row = yield* query('spend.limits', { userId });
  return row ?? { perMessage: null, perDay: null };
}

export function* setSpendLimits(userId: number, limits: SpendLimits): Op<void> {
  yield* query('spend.setLimits', { userId, perMessage: limits.perMessage, perDay: limits.perDay });
}

/** Balance tokens charged today (UTC) for turns that ended today, plus what turns in flight hold. */
export function* spentToday(userId: number, now = new Date()): Op<number> {
  return yield* query('spend.spentToday', { userId, since: startOfUtcDay(now) });
}

/** Whether a turn that may cost `estimate` balance tokens is within the user's limits. */
export function* checkSpendLimits(userId: number, estimate: number): Op<SpendVerdict> {
  const limits = yield* getSpendLimits(userId);
  if (limits.perMessage !== null && estimate > limits.perMessage) {
    return { ok: false, reason: 'per_message', limit: limits.perMessage };
  }
  if (limits.perDay !== null) {
    const spent = yield* spentToday(userId);
    if (spent + estimate > limits.perDay) return { ok: false, reason: 'per_day', limit: limits.perDay, spentToday: spent };
  }
  return { ok: true };
}

/** The most one turn may cost now under the limits; null when the user set none. */
export function* spendAllowance(userId: number): Op<number | null> {
  const limits = yield* getSpendLimits(userId);
  const left = limits.perDay === null ? null : Math.max(0, limits.perDay - (yield* spentToday(userId)));
  if (limits.perMessage === null) return left;
  return left === null ? limits.perMessage : Math.min(left, limits.perMessage);
}

/** An API key's own limits (accounts/api-keys.ts): per UTC day and in all, in balance tokens; per minute in raw tokens. */
export interface KeyLimits {
  id: number;
  perDay: number | null;
  total: number | null;
  /** Prompt plus completion tokens per minute (not balance tokens: a rate on the provider's work), or null. */
  tpm?: number | null;
}

/** What a key's tokens per minute leave for one more call now, and when the oldest call in the window leaves it. */
export interface MinuteRoom {
  tokens: number;
  retryAfterSeconds: number;
}

/**
 * The raw tokens a key may still use this minute; undefined when it has no such limit. Calls in
 * flight count at what they hold (prompt + max completion), so calls made at once cannot pass the
 * limit together; a settled call counts at what it used, giving the rest back at once.
 */
export function* keyMinuteRoom(key: KeyLimits, now = new Date()): Op<MinuteRoom | undefined> {
  if (key.tpm == null) return undefined;
  const window = yield* query('keys.tokenWindow', { keyId: key.id, since: new Date(now.getTime() - 60_000).toISOString() });
  const frees = window.oldest === null ? now.getTime() : Date.parse(window.oldest) + 60_000;
  return { tokens: Math.max(0, key.tpm - window.used), retryAfterSeconds: Math.max(1, Math.ceil((frees - now.getTime()) / 1000)) };
}

/** The most one call with the key may cost now under its limits; null when it has none. */
export function* keyAllowance(key: KeyLimits, now = new Date()): Op<number | null> {
  if (key.perDay === null && key.total === null) return null;
  const spent = yield* query('keys.spent', { keyId: key.id, since: startOfUtcDay(now) });
  const left = [key.perDay === null ? Infinity : key.perDay - spent.today, key.total === null ? Infinity : key.total - spent.total];
  return Math.max(0, Math.min(...left));
}
