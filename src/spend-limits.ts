// Spend limits a user sets on themselves: the most balance tokens one message may cost, and the
// most they may spend in one day (UTC). Owns the spend_limits table.
//
// A turn passes `() => spendAllowance(raw, user)` to ledger.reserve, which reads it inside its
// transaction: the turn's completion shrinks to fit, and when not even one completion token fits
// the reserve answers 'over_limit' and checkSpendLimits says which limit and by how much. Reading
// it inside the transaction means turns reserving at once (tabs, processes) cannot pass a limit
// together. "Today" is since 00:00 UTC: turns that ended today at their charge, plus turns still
// in flight at their hold.
import type SqliteDatabase from 'better-sqlite3';

type Raw = SqliteDatabase.Database;

export interface SpendLimits {
  perMessage: number | null;
  perDay: number | null;
}

export type SpendVerdict =
  | { ok: true }
  | { ok: false; reason: 'per_message' | 'per_day'; limit: number; spentToday?: number };

/** 00:00 UTC of the day `now` falls in, as the ISO text the tables store. */
export function startOfUtcDay(now = new Date()): string {
  return `${now.toISOString().slice(0, 10)}T00:00:00.000Z`;
}

// Read inside every reserve's write transaction (spendAllowance): prepared once per connection.
const prepared = new WeakMap<Raw, Map<string, SqliteDatabase.Statement>>();
function statement(raw: Raw, sql: string): SqliteDatabase.Statement {
  let byText = prepared.get(raw);
  if (!byText) prepared.set(raw, (byText = new Map()));
  let s = byText.get(sql);
  if (!s) byText.set(sql, (s = raw.prepare(sql)));
  return s;
}

export function getSpendLimits(raw: Raw, userId: number): SpendLimits {
  const row = statement(raw, 'SELECT per_message AS perMessage, per_day AS perDay FROM spend_limits WHERE user_id = ?').get(userId) as
    | SpendLimits
    | undefined;
  return row ?? { perMessage: null, perDay: null };
}

export function setSpendLimits(raw: Raw, userId: number, limits: SpendLimits): void {
  raw
    .prepare(
      `INSERT INTO spend_limits (user_id, per_message, per_day) VALUES (?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET per_message = excluded.per_message, per_day = excluded.per_day,
         updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`,
    )
    .run(userId, limits.perMessage, limits.perDay);
}

/** Balance tokens charged today (UTC) for turns that ended today, plus what turns in flight hold. */
export function spentToday(raw: Raw, userId: number, now = new Date()): number {
  const sql = `SELECT (SELECT coalesce(sum(charge), 0) FROM holds WHERE user_id = @userId AND closed_at >= @since)
    + (SELECT coalesce(sum(amount), 0) FROM holds WHERE state = 'held' AND user_id = @userId) AS spent`;
  return (statement(raw, sql).get({ userId, since: startOfUtcDay(now) }) as { spent: number }).spent;
}

/** Whether a turn that may cost `estimate` balance tokens is within the user's limits. */
export function checkSpendLimits(raw: Raw, userId: number, estimate: number): SpendVerdict {
  const limits = getSpendLimits(raw, userId);
  if (limits.perMessage !== null && estimate > limits.perMessage) {
    return { ok: false, reason: 'per_message', limit: limits.perMessage };
  }
  if (limits.perDay !== null) {
    const spent = spentToday(raw, userId);
    if (spent + estimate > limits.perDay) return { ok: false, reason: 'per_day', limit: limits.perDay, spentToday: spent };
  }
  return { ok: true };
}

/** The most one turn may cost now under the limits; null when the user set none. */
export function spendAllowance(raw: Raw, userId: number): number | null {
  const limits = getSpendLimits(raw, userId);
  const left = limits.perDay === null ? null : Math.max(0, limits.perDay - spentToday(raw, userId));
  if (limits.perMessage === null) return left;
  return left === null ? limits.perMessage : Math.min(left, limits.perMessage);
}
