// Finance's rows (month, user, group, model: reports/group-usage.ts) a page of users at a time, for
// the admin API: the cursor is the last user id of the page before. Read-only.
import type { Period } from '../ledger/periods';
import { query, type Op } from '../storage/op';
import type { FinanceRow } from '../storage/queries/group-usage';

export function* financePage(month: Period, afterUser: number, users: number): Op<{ rows: FinanceRow[]; next: number | null }> {
  const last = yield* query('groupUsage.batchEnd', { afterUser, users });
  if (last === undefined || last === null) return { rows: [], next: null };
  const rows = yield* query('groupUsage.finance', { start: month.startsAt, end: month.endsAt, afterUser, users });
  const more = yield* query('groupUsage.batchEnd', { afterUser: last, users: 1 });
  return { rows, next: more === undefined || more === null ? null : last };
}
