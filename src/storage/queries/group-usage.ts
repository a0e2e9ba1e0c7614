// Queries of usage by group and by bucket (reports/group-usage.ts, reports/bucket-ledger.ts; see
// queries/index.ts): read-only, each through an index (holds by closed_at or by user and closed_at,
// allowance buckets by user or group, allowance rows by user).
import type { Q } from './shape';

/** Turns one user closed in a period under one group's rule (null: Everyone's). */
export interface GroupUserRow {
  group: string | null;
  userId: number;
  username: string;
  turns: number;
  charge: number;
  prompt: number;
  completion: number;
  /** Of the charge, what came from allowance buckets (the hold's parts, spent first). */
  fromAllowance: number;
}

/** A group as the period view lists it: members now (for Everyone: the people in no group). */
export interface GroupHeadRow {
  id: number;
  name: string;
  builtin: 0 | 1;
  members: number;
}

/** Allowance of one group: given by refills in a period, and left in buckets whose period is not over. */
export interface GroupAllowanceRow {
  groupId: number | null;
  group: string;
  given: number;
  left: number;
}

/** One CSV row for finance: a user's turns of one month under one group's rule, for one model. */
export interface FinanceRow {
  userId: number;
  username: string;
  /** The group whose rule priced the model; Everyone's name when it was the default rule. */
  group: string;
  model: string;
  turns: number;
  prompt: number;
  completion: number;
  charge: number;
  fromAllowance: number;
}

/** A user's allowance bucket as they and the admin see it. */
export interface UserBucketRow {
  id: number;
  groupId: number | null;
  group: string;
  balance: number;
  size: number;
  period: string | null;
  endsAt: string | null;
}

export type AllowanceKind = 'refill' | 'expire' | 'reserve' | 'settle' | 'release' | 'adjust';

/** A row of allowance_ledger with what the ledger page shows beside it. */
export interface AllowanceLedgerRow {
  id: number;
  createdAt: string;
  kind: AllowanceKind;
  amount: number;
  balanceAfter: number;
  note: string | null;
  period: string | null;
  group: string;
  model: string | null;
  promptTokens: number | null;
  completionTokens: number | null;
  conversationId: number | null;
  messageId: number | null;
  apiKey: string | null;
  /** On a turn's closing row: what its reserve took from this bucket (a positive number). */
  heldAmount: number | null;
}

/** The optional filters of the ledger history (null: none); @from and @to are ISO times. */
interface AllowanceWhere {
  userId: number;
  kind: string | null;
  from: string | null;
  to: string | null;
  /** 1: a closed turn is one row (its closing row), its reserve left out. */
  fold: 0 | 1;
}

export interface GroupUsageQueries {
  /** Turns closed in [@start, @end), by the group whose rule priced them and by user. */
  'groupUsage.byGroupUser': Q<{ start: string; end: string }, GroupUserRow[]>;
  'groupUsage.heads': Q<Record<string, never>, GroupHeadRow[]>;
  /** Refills written in [@start, @end) and what is left at @now, by group. */
  'groupUsage.allowances': Q<{ start: string; end: string; now: string }, GroupAllowanceRow[]>;
  /** The CSV rows of the next @users users after @afterUser (by id) for turns closed in [@start, @end). */
  'groupUsage.finance': Q<{ start: string; end: string; afterUser: number; users: number }, FinanceRow[]>;
  /** The last user id of that batch; undefined when no user follows @afterUser. */
  'groupUsage.batchEnd': Q<{ afterUser: number; users: number }, number | null | undefined>;
  /** The user's buckets: every one of a group, and those of a deleted group while they hold tokens. */
  'groupUsage.bucketsOf': Q<{ userId: number }, UserBucketRow[]>;
  /** The user's allowance rows, newest first, at most @limit. */
  'groupUsage.ledgerNewest': Q<AllowanceWhere & { limit: number }, AllowanceLedgerRow[]>;
  /** The user's allowance rows oldest first, after @afterId. */
  'groupUsage.ledgerAfter': Q<AllowanceWhere & { afterId: number; size: number }, AllowanceLedgerRow[]>;
}
