// Queries of allowance buckets (ledger/buckets.ts, groups/allowances.ts; see queries/index.ts).
import type { Changes, Q } from './shape';

/** A group with an allowance whose rules the user follows, and the user's bucket of it (if any yet). */
export interface DueRow {
  groupId: number;
  name: string;
  allowance: number;
  period: 'day' | 'week' | 'month';
  mode: 'reset' | 'add';
  cap: number | null;
  joinRule: 'full' | 'prorata';
  bucketId: number | null;
  balance: number | null;
  size: number | null;
  label: string | null;
  endsAt: string | null;
}

/** A bucket as the user and the admin see it. */
export interface BucketRow {
  id: number;
  userId: number;
  groupId: number | null;
  groupName: string;
  balance: number;
  size: number;
  label: string | null;
  endsAt: string | null;
}

export interface AllowanceRowInput {
  allowanceId: number;
  userId: number;
  kind: 'refill' | 'expire' | 'reserve' | 'settle' | 'release' | 'adjust';
  amount: number;
  balanceAfter: number;
  period: string | null;
  holdId: number | null;
  actorId: number | null;
  note: string | null;
}

/** A group's allowance as set (null amount: none). */
export interface AllowanceConfigRow {
  allowance: number | null;
  period: 'day' | 'week' | 'month';
  mode: 'reset' | 'add';
  cap: number | null;
  joinRule: 'full' | 'prorata';
}

export interface AllowanceQueries {
  /** The groups with an allowance whose rules the user follows (theirs, or Everyone's when in none), with the user's bucket of each. */
  'allowances.due': Q<{ userId: number }, DueRow[]>;
  /** The user's buckets holding tokens of a group whose allowance no longer reaches them (removed, deleted, unset, or Everyone's after joining a group). */
  'allowances.stray': Q<{ userId: number }, { id: number; balance: number }[]>;
  /** The user's bucket of a group, made empty if there is none; its id. */
  'allowances.create': Q<{ userId: number; groupId: number; name: string }, number | undefined>;
  'allowances.idOf': Q<{ userId: number; groupId: number }, number | undefined>;
  /** Whether the bucket was refilled for that period already. */
  'allowances.refilled': Q<{ id: number; label: string }, number | undefined>;
  /** Sets a bucket's balance, size and period after a refill. */
  'allowances.set': Q<{ id: number; balance: number; size: number; label: string; endsAt: string; name: string }, Changes>;
  /** Moves a bucket to a period without crediting it (the period was refilled before). */
  'allowances.move': Q<{ id: number; label: string; endsAt: string }, Changes>;
  /** Ends a bucket's period now (an administrator changed how often it refills, to apply at once). */
  'allowances.endNow': Q<{ groupId: number; now: string }, Changes>;
  /** Adds `amount` (may be negative) while the balance stays >= 0; the new balance, else undefined. */
  'allowances.add': Q<{ id: number; amount: number }, number | undefined>;
  'allowances.setSize': Q<{ id: number; size: number }, Changes>;
  'allowances.row': Q<AllowanceRowInput, Changes>;
  /** A refill row, once per bucket and period: undefined when that period's row is there already. */
  'allowances.refillRow': Q<AllowanceRowInput, number | undefined>;
  /** The user's buckets that may be spent at `now` (tokens left, period not over), soonest to end first. */
  'allowances.live': Q<{ userId: number; now: string }, { id: number; balance: number; endsAt: string }[]>;
  /** Every bucket of the user that holds tokens or belongs to a group they follow. */
  'allowances.ofUser': Q<{ userId: number }, BucketRow[]>;
  /** A group's buckets (its members', and for Everyone everyone's who had one). */
  'allowances.ofGroup': Q<{ groupId: number }, BucketRow[]>;
  'allowances.config': Q<{ groupId: number }, AllowanceConfigRow | undefined>;
  'allowances.setConfig': Q<AllowanceConfigRow & { groupId: number }, Changes>;
  /** Users whose bucket's period is over, or who follow an allowance group without a bucket yet (the sweep), at most `limit`. */
  'allowances.dueUsers': Q<{ now: string; limit: number }, number[]>;
  /** Buckets whose balance is not the sum of their rows, is negative, or differs from their last row's balance_after. */
  'verify.buckets': Q<Record<string, never>, { id: number; userId: number; balance: number; total: number; after: number | null }[]>;
  /** Closed or open holds whose reserve rows (own and allowance) do not add up to the hold's amount. */
  'verify.holdReserves': Q<Record<string, never>, { id: number; userId: number }[]>;
  /** The member ids of a group (for a change applied to all of them). */
  'allowances.memberIds': Q<{ groupId: number }, number[]>;
  /** A group's members who spent most in turns closed in [@start, @end) (by user and closed_at), at most @limit. */
  'allowances.topMembers': Q<{ groupId: number; start: string; end: string; limit: number }, SpenderRow[]>;
  /** The same for the people in no group (Everyone's), through the closed_at index. */
  'allowances.topUngrouped': Q<{ start: string; end: string; limit: number }, SpenderRow[]>;
  /** How many people are in no group (Everyone's rules reach them). */
  'allowances.ungroupedCount': Q<Record<string, never>, number>;
}

/** A user and what their turns closed in a period charged. */
export interface SpenderRow {
  userId: number;
  username: string;
  spent: number;
}
