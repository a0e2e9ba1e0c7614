// Limits an administrator sets (issue 24): per group and per user, tokens per day and per month,
// requests per minute and per hour, answers running at once. They count the chat page and every
// API key of the user together, on every process (read in the reserve's transaction), and a user
// cannot lift them. OWNED BY THE LIMITS WORK: the lead's reserveOp calls `orgRoom` only.
//
// How each is counted, all from rows every process writes:
// - tokens per day / month: balance tokens charged for turns that ended in the calendar day /
//   month (the organisation's time zone), plus what turns in flight hold (spend.spentToday);
// - requests per minute / hour: holds the user took in the last 60 / 3600 s (sliding windows),
//   whatever became of them;
// - answers at once: holds open (balances.open_holds).
// reserveOp locks the user's balance row before calling orgRoom, so two reserves of one user
// never both read a count the other is about to pass.
import { appliedLimitsOf, type Applied, type LimitField } from './limit-rules';
import { organisationZone, periodOf, type PeriodKind } from './periods';
import { query, type Op } from '../storage/op';

/** Which rule refused a turn, where it came from, and when it lifts. */
export interface OrgRefusal {
  rule: 'tokens_per_day' | 'tokens_per_month' | 'requests_per_minute' | 'requests_per_hour' | 'answers_at_once';
  limit: number;
  /** The group the rule comes from, or null: set for this user by an administrator. */
  group: string | null;
  /** When the rule lets a request through again (ISO), when known. */
  liftsAt: string | null;
  /** Balance tokens (for tokens_*), requests or answers counted against it. */
  used: number;
  /** For tokens per day / month: the organisation's time zone the period is counted in. */
  zone?: string;
}

/**
 * What the organisation's limits leave for one more turn: the most it may cost in balance tokens
 * (null: no token limit) and the refusal to give when that does not pay for the turn (the rule that
 * left least), or why it may not run at all (requests, answers at once).
 */
export type OrgRoom = { tokens: number | null; short: OrgRefusal | null; countsRequests: boolean } | { refusal: OrgRefusal };

const WINDOWS: readonly [LimitField & `requests_${string}`, number][] = [['requests_per_minute', 60_000], ['requests_per_hour', 3_600_000]];
const PERIODS: readonly [LimitField & `tokens_${string}`, PeriodKind][] = [['tokens_per_day', 'day'], ['tokens_per_month', 'month']];

const refusalOf = (rule: OrgRefusal['rule'], applied: Applied, used: number, liftsAt: string | null): OrgRefusal =>
  ({ rule, limit: applied.limit, group: applied.group, liftsAt, used });

/**
 * Read inside reserve's write transaction, after the user's balance row is locked. `countsRequests`:
 * a request limit applies, so the reserve records the request when it opens the hold (logRequest).
 */
export function* orgRoom(userId: number, now: Date): Op<OrgRoom> {
  const applied = yield* appliedLimitsOf(userId);
  const atOnce = applied.answers_at_once;
  if (atOnce) {
    const open = yield* query('ledger.openCount', { userId });
    if (open >= atOnce.limit) return { refusal: refusalOf('answers_at_once', atOnce, open, null) };
  }
  for (const [rule, ms] of WINDOWS) {
    const limit = applied[rule];
    if (!limit) continue;
    const since = new Date(now.getTime() - ms).toISOString();
    const used = yield* query('orgLimits.requestsSince', { userId, since });
    if (used < limit.limit) continue;
    // One more fits when all but limit - 1 of those counted have left the window.
    const at = yield* query('orgLimits.requestAt', { userId, since, skip: used - limit.limit });
    return { refusal: refusalOf(rule, limit, used, at === undefined ? null : new Date(Date.parse(at) + ms).toISOString()) };
  }
  let tokens: number | null = null;
  let short: OrgRefusal | null = null;
  let zone: string | undefined;
  for (const [rule, kind] of PERIODS) {
    const limit = applied[rule];
    if (!limit) continue;
    zone ??= yield* organisationZone();
    const period = periodOf(kind, zone, now);
    const used = yield* query('spend.spentToday', { userId, since: period.startsAt });
    const left = Math.max(0, limit.limit - used);
    // The rule leaving least; of two leaving as little, the one lifting later (a month spent
    // is not lifted by tomorrow).
    if (tokens === null || left < tokens || (left === tokens && short !== null && period.endsAt > (short.liftsAt ?? ''))) {
      tokens = left;
      short = { ...refusalOf(rule, limit, used, period.endsAt), zone };
    }
  }
  return { tokens, short, countsRequests: WINDOWS.some(([rule]) => applied[rule] !== undefined && applied[rule] !== null) };
}

/** Records a request that opened a hold, for the request limits (inside the reserve's write). */
export function* logRequest(userId: number, now: Date): Op<void> {
  yield* query('orgLimits.logRequest', { userId, at: now.toISOString() });
}

/** Forgets requests older than the longest window (an hour): the server's minute sweep. */
export function* pruneRequests(now = new Date()): Op<void> {
  yield* query('orgLimits.pruneRequests', { before: new Date(now.getTime() - 3_600_000).toISOString() });
}
