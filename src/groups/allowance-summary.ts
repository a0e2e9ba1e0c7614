// What a group's page shows of its allowance (issue 24): how many people it reaches, what is left of
// this period's buckets summed over them, the period and when it refills next (in the organisation's
// zone), and who spent most this period. Read-only: the allowance is set in allowances.ts.
import { query, type Op } from '../storage/op';
import type { SpenderRow } from '../storage/queries/allowances';
import { allowanceOf, type AllowanceConfig } from './allowances';
import { findGroup } from './groups';
import { periodOf, zoneSetting, type Period } from '../ledger/periods';

export type { SpenderRow } from '../storage/queries/allowances';

/** The users the page lists as having spent most this period. */
export const TOP_SPENDERS = 5;

export interface AllowanceSummary {
  config: AllowanceConfig | null;
  zone: string;
  /** The period the allowance counts in now (a month when the group gives none). */
  period: Period;
  /** The people the group's rules reach: its members, or for Everyone the people in no group. */
  people: number;
  /** Summed over the buckets whose period is not over: tokens left, and of how many. */
  left: number;
  size: number;
  buckets: number;
  top: SpenderRow[];
}

export function* allowanceSummary(groupId: number, now = new Date()): Op<AllowanceSummary | undefined> {
  const group = yield* findGroup(groupId);
  if (!group) return undefined;
  const config = yield* allowanceOf(groupId);
  const zone = yield* zoneSetting();
  const period = periodOf(config?.period ?? 'month', zone, now);
  const at = now.toISOString();
  let left = 0;
  let size = 0;
  let buckets = 0;
  for (const b of yield* query('allowances.ofGroup', { groupId })) {
    if (b.endsAt === null || b.endsAt <= at) continue;
    left += b.balance;
    size += b.size;
    buckets++;
  }
  const window = { start: period.startsAt, end: period.endsAt, limit: TOP_SPENDERS };
  const top = group.builtin ? yield* query('allowances.topUngrouped', window) : yield* query('allowances.topMembers', { groupId, ...window });
  const people = group.builtin ? yield* query('allowances.ungroupedCount', {}) : group.members;
  return { config, zone, period, people, left, size, buckets, top };
}
