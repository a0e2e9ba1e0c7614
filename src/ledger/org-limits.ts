// Limits an administrator sets (issue 24): per group and per user, tokens per day and per month,
// requests per minute and per hour, answers running at once. They count the chat page and every
// API key of the user together, on every process (read in the reserve's transaction), and a user
// cannot lift them. OWNED BY THE LIMITS WORK: the lead's reserveOp calls `orgRoom` only.
import type { Op } from '../storage/op';

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
}

/**
 * What the organisation's limits leave for one more turn: the most it may cost in balance tokens
 * (null: no token limit) and the refusal to give when that does not pay for the turn (the rule that
 * left least), or why it may not run at all (requests, answers at once).
 */
export type OrgRoom = { tokens: number | null; short: OrgRefusal | null } | { refusal: OrgRefusal };

/** Read inside reserve's write transaction, after the user's balance row is locked. */
export function* orgRoom(_userId: number, _now: Date): Op<OrgRoom> {
  return { tokens: null, short: null };
}
