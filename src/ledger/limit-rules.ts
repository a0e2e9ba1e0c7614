// Limits an administrator sets (issue 24): tokens per day and per month, requests per minute and per
// hour, answers running at once; per group, and per user on the admin's user page. This module
// states which of them apply to a user (pure: `appliedFrom`) and reads them; org-limits.ts counts
// against them inside the reserve, and groups/limit-changes.ts writes them, audited. It lives in
// ledger/ because the reserve reads it, and groups/ sits above ledger/.
//
// The rule, per field: a limit an administrator set for the user is the one that applies (looser
// or stricter than their groups'); else the most generous of the groups whose rules they follow
// (their own, or Everyone's when they are in none): the highest, and none at all when any of those
// groups leaves the field unset.
import { query, type Op } from '../storage/op';
import type { GroupLimitsRow, LimitsRow } from '../storage/queries/org-limits';

export const LIMIT_FIELDS = ['tokens_per_day', 'tokens_per_month', 'requests_per_minute', 'requests_per_hour', 'answers_at_once'] as const;
export type LimitField = (typeof LIMIT_FIELDS)[number];

/** The five limits, null where there is none. */
export type Limits = LimitsRow;

export const NO_LIMITS: Limits = { tokens_per_day: null, tokens_per_month: null, requests_per_minute: null, requests_per_hour: null, answers_at_once: null };
/** The most a limit may be: as far as a grant may go. */
export const LIMIT_MAX = 1_000_000_000_000;

/** A limit that is not a whole number from 1 to LIMIT_MAX (or none). */
export class LimitsError extends Error {
  constructor(readonly field: LimitField) {
    super(`${field} must be a whole number from 1 to ${LIMIT_MAX}, or none`);
  }
}

/** The limits as given, checked; the first field out of range is refused. */
export function checkLimits(limits: Limits): Limits {
  const kept = { ...NO_LIMITS };
  for (const field of LIMIT_FIELDS) {
    const v = limits[field];
    if (v !== null && (!Number.isSafeInteger(v) || v < 1 || v > LIMIT_MAX)) throw new LimitsError(field);
    kept[field] = v;
  }
  return kept;
}

/** One limit that applies, and where it comes from: a group by name, or null: set for this user by an administrator. */
export interface Applied {
  limit: number;
  group: string | null;
}

export type AppliedLimits = Record<LimitField, Applied | null>;

const byName = (a: GroupLimitsRow, b: GroupLimitsRow) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Which limits apply, from the user's groups' (Everyone's alone for people in none) and what an administrator set for them. */
export function appliedFrom(groups: readonly GroupLimitsRow[], own: Limits | undefined): AppliedLimits {
  const sorted = [...groups].sort(byName); // ties go to the group first by name, every time
  const applied = {} as AppliedLimits;
  for (const field of LIMIT_FIELDS) {
    const set = own?.[field] ?? null;
    if (set !== null) {
      applied[field] = { limit: Number(set), group: null };
      continue;
    }
    let best: Applied | null = null;
    for (const g of sorted) {
      const v = g[field];
      if (v === null) {
        best = null; // a group that leaves it unset gives its members no limit: the most generous
        break;
      }
      if (!best || Number(v) > best.limit) best = { limit: Number(v), group: g.name };
    }
    applied[field] = best;
  }
  return applied;
}

/** The limits that apply to a user now, and where each comes from. */
export function* appliedLimitsOf(userId: number): Op<AppliedLimits> {
  const groups = yield* query('orgLimits.groupsOf', { userId });
  return appliedFrom(groups, yield* query('orgLimits.ofUser', { userId }));
}

export function* groupLimitsOf(groupId: number): Op<Limits> {
  return (yield* query('orgLimits.ofGroup', { groupId })) ?? { ...NO_LIMITS };
}

/** The limits an administrator set for this user themself (not their groups'). */
export function* userLimitsOf(userId: number): Op<Limits> {
  return (yield* query('orgLimits.ofUser', { userId })) ?? { ...NO_LIMITS };
}
