// Usage by group and period, for the admin's page and finance's CSV (issue 24). A turn counts under
// the group whose rule priced its model (holds.rule_group, set at reserve; NULL: Everyone's), so a
// member of two groups is counted once, under the rule that applied. Periods are calendar periods
// in the organisation's time zone (groups/periods.ts). Read-only: nothing here writes.
import { periodOf, startOfLocalDay, type Period, type PeriodKind } from '../ledger/periods';
import { query, type Op, type Store } from '../storage/op';
import type { FinanceRow, GroupUserRow } from '../storage/queries/group-usage';

export type { FinanceRow } from '../storage/queries/group-usage';

/** One user's turns in a period: a group's row of them, without the group. */
export type UserTotals = Omit<GroupUserRow, 'group'>;

export interface GroupUsage extends Omit<UserTotals, 'userId' | 'username'> {
  /** null: a name turns were priced under that no group has now (renamed or deleted). */
  groupId: number | null;
  name: string;
  builtin: boolean;
  /** Members now (Everyone: the people in no group); null for a group that is gone. */
  members: number | null;
  /** Allowance refilled in the period, and left now in buckets whose period is not over. */
  given: number;
  left: number;
  /** The users who spent the most under this group's rule in the period, most first. */
  top: UserTotals[];
}

const zero = () => ({ turns: 0, charge: 0, prompt: 0, completion: 0, fromAllowance: 0 });

function add(to: Omit<UserTotals, 'userId' | 'username'>, row: GroupUserRow): void {
  to.turns += row.turns;
  to.charge += row.charge;
  to.prompt += row.prompt;
  to.completion += row.completion;
  to.fromAllowance += row.fromAllowance;
}

/** Per group, what was spent under its rule in `period`, the allowance it gave and what is left; groups with nothing to show too. */
export function* groupUsage(period: Period, now: Date, topN = 3): Op<GroupUsage[]> {
  const heads = yield* query('groupUsage.heads', {});
  const builtin = heads.find((h) => h.builtin === 1);
  const rows: GroupUsage[] = heads.map((h) => ({ groupId: h.id, name: h.name, builtin: h.builtin === 1, members: h.members, ...zero(), given: 0, left: 0, top: [] }));
  const byId = new Map(rows.map((r) => [r.groupId, r]));
  const byName = new Map(rows.map((r) => [r.name, r]));
  const gone = (name: string) => {
    const row: GroupUsage = { groupId: null, name, builtin: false, members: null, ...zero(), given: 0, left: 0, top: [] };
    rows.push(row);
    byName.set(name, row);
    return row;
  };
  const users = new Map<GroupUsage, UserTotals[]>();
  for (const r of yield* query('groupUsage.byGroupUser', { start: period.startsAt, end: period.endsAt })) {
    const name = r.group ?? builtin?.name ?? '';
    const row = (r.group === null && builtin ? byId.get(builtin.id) : byName.get(name)) ?? gone(name);
    add(row, r);
    const list = users.get(row) ?? [];
    list.push({ userId: r.userId, username: r.username, turns: r.turns, charge: r.charge, prompt: r.prompt, completion: r.completion, fromAllowance: r.fromAllowance });
    users.set(row, list);
  }
  for (const [row, list] of users) row.top = list.sort((a, b) => b.charge - a.charge || a.userId - b.userId).slice(0, topN);
  for (const a of yield* query('groupUsage.allowances', { start: period.startsAt, end: period.endsAt, now: now.toISOString() })) {
    const row = (a.groupId !== null ? byId.get(a.groupId) : undefined) ?? byName.get(a.group) ?? gone(a.group);
    row.given += a.given;
    row.left += a.left;
  }
  return rows;
}

// ---- periods the page and the CSV are asked for ---------------------------------------------

/** The period of `kind` holding local date y-m-d (a month: y-m) in `zone`. */
export function periodAt(kind: PeriodKind, zone: string, y: number, m: number, d = 1): Period {
  return periodOf(kind, zone, new Date(startOfLocalDay(y, m, d, zone)));
}

/** The month before the one `period` starts in. */
export function monthBefore(period: Period, zone: string): Period {
  return periodOf('month', zone, new Date(Date.parse(period.startsAt) - 1));
}

/** The months from `from` to `to` ('YYYY-MM', inclusive) in `zone`, at most `max`; empty when `to` is before `from`. */
export function monthsBetween(from: string, to: string, zone: string, max = 36): Period[] {
  const [fy, fm] = from.split('-').map(Number) as [number, number];
  const [ty, tm] = to.split('-').map(Number) as [number, number];
  const months: Period[] = [];
  for (let y = fy, m = fm; (y < ty || (y === ty && m <= tm)) && months.length < max; m === 12 ? ((y += 1), (m = 1)) : (m += 1)) {
    months.push(periodAt('month', zone, y, m));
  }
  return months;
}

// ---- finance's CSV ----------------------------------------------------------------------------

export interface FinanceLine extends FinanceRow {
  month: string;
}

/**
 * The CSV's rows one chunk at a time: month by month, a batch of users at a time (each user's turns
 * read through holds(user_id, closed_at)); an empty chunk when all months are done.
 */
export function financeChunks(store: Store, months: Period[], usersPerBatch = 200): () => Promise<FinanceLine[]> {
  let at = 0;
  let afterUser = 0;
  return async () => {
    while (at < months.length) {
      const month = months[at]!;
      const last = await store.read(batchEnd, afterUser, usersPerBatch);
      if (last === null) {
        at += 1;
        afterUser = 0;
        continue;
      }
      const rows = await store.read(financeBatch, month, afterUser, usersPerBatch);
      afterUser = last;
      if (rows.length > 0) return rows.map((r) => ({ month: month.label, ...r }));
    }
    return [];
  };
}

function* batchEnd(afterUser: number, users: number): Op<number | null> {
  return (yield* query('groupUsage.batchEnd', { afterUser, users })) ?? null;
}

function* financeBatch(month: Period, afterUser: number, users: number): Op<FinanceRow[]> {
  return yield* query('groupUsage.finance', { start: month.startsAt, end: month.endsAt, afterUser, users });
}

/** The CSV's columns; from_allowance + from_own_tokens == tokens_charged on every row. */
export const FINANCE_HEADER = [
  'month', 'user_id', 'username', 'group', 'model', 'turns', 'prompt_tokens', 'completion_tokens', 'tokens_charged', 'from_allowance', 'from_own_tokens',
];

export const financeCells = (r: FinanceLine) => [
  r.month, r.userId, r.username, r.group, r.model, r.turns, r.prompt, r.completion, r.charge, r.fromAllowance, r.charge - r.fromAllowance,
];
