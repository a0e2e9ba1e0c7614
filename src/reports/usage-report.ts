// Read-only reports over the usage and ledger tables (which ledger.ts writes): a user's or the
// whole system's spending by period, model, conversation and day, and the ledger history.
// Days are UTC days; times in the tables are ISO text, so ranges are string comparisons.
import { balanceOf } from '../ledger/ledger';
import { startOfUtcDay } from '../ledger/spend-limits';
import { pageOf, pageWindow, query, type Op } from '../storage/op';
import type { ConversationRow, DayRow, LedgerKind, LedgerRow, ModelRow, ProviderRow, Totals, UserUsageRow } from '../storage/queries/reports';

export { LEDGER_KINDS } from '../storage/queries/reports';
export type { ConversationRow, DayRow, LedgerKind, LedgerRow, ModelRow, ProviderRow, Totals, UserUsageRow } from '../storage/queries/reports';

export const CHART_DAYS = 30;

export interface Summary {
  today: number;
  month: number;
  total: Totals;
  byModel: ModelRow[];
  daily: DayRow[];
}

// The turns of one user, or of everyone summed when userId is undefined, since `since` (a UTC day
// boundary, or '' for all time): the rollup's days plus the turns closed after its mark (see the
// texts in storage/sqlite/sql/reports.ts).
function* dailyRows(userId: number | undefined, since: string): Op<DayRow[]> {
  return userId === undefined ? yield* query('reports.dailyOfAll', { since }) : yield* query('reports.dailyOfUser', { userId, since });
}

/** The last `days` UTC days, oldest first, ending today. */
export function lastDays(days = CHART_DAYS, now = new Date()): string[] {
  const today = Date.parse(startOfUtcDay(now));
  return Array.from({ length: days }, (_, i) => new Date(today - (days - 1 - i) * 86_400_000).toISOString().slice(0, 10));
}

export function* dailyUsage(userId?: number, now = new Date()): Op<DayRow[]> {
  const days = lastDays(CHART_DAYS, now);
  const rows = yield* dailyRows(userId, `${days[0]}T00:00:00.000Z`);
  const byDay = new Map(rows.map((r) => [r.day, r]));
  return days.map((day) => byDay.get(day) ?? { day, turns: 0, charge: 0, prompt: 0, completion: 0 });
}

/** Charged today and this month (UTC), and all-time totals; for one user or for everyone. */
export function* periodTotals(userId?: number, now = new Date()): Op<{ today: number; month: number; total: Totals }> {
  const today = startOfUtcDay(now).slice(0, 10);
  const params = { since: '', today, month: `${today.slice(0, 7)}-01` };
  const { todayCharge, monthCharge, ...total } =
    userId === undefined ? yield* query('reports.periodOfAll', params) : yield* query('reports.periodOfUser', { userId, ...params });
  return { today: todayCharge, month: monthCharge, total };
}

/** Spending by period, model and day; for one user or for everyone. */
export function* summary(userId?: number, now = new Date()): Op<Summary> {
  return {
    ...(yield* periodTotals(userId, now)),
    byModel: userId === undefined ? yield* query('reports.byModelOfAll', { since: '' }) : yield* query('reports.byModelOfUser', { userId, since: '' }),
    daily: yield* dailyUsage(userId, now),
  };
}

export interface SourceRow {
  /** The API key's name; null: the chat page. */
  apiKey: string | null;
  turns: number;
  charge: number;
}

export function* userSummary(userId: number, now = new Date()): Op<Summary & { balance: number; byConversation: ConversationRow[]; bySource: SourceRow[] }> {
  return {
    balance: yield* balanceOf(userId), ...(yield* summary(userId, now)), byConversation: yield* byConversation(userId),
    bySource: yield* query('reports.bySource', { userId }),
  };
}

/** The user's conversations with the most recent spending first. */
export function* byConversation(userId: number, limit = 10): Op<ConversationRow[]> {
  return yield* query('reports.byConversation', { userId, limit });
}

/** Calls closed since `since` (ISO time), by the provider and model that served them. */
export function* byProvider(since: string): Op<ProviderRow[]> {
  return yield* query('reports.byProvider', { since });
}

/** The users who spent the most since `since` (a UTC day boundary; all time when undefined). */
export function* topUsers(limit = 10, since = ''): Op<UserUsageRow[]> {
  return yield* query('reports.topUsers', { since, limit });
}

// ---- ledger history -------------------------------------------------------------------------

export interface LedgerFilter {
  kind?: LedgerKind;
  /** YYYY-MM-DD, inclusive (UTC). */
  from?: string;
  to?: string;
}

const nextDay = (day: string) => new Date(Date.parse(`${day}T00:00:00.000Z`) + 86_400_000).toISOString();

export function ledgerWhere(userId: number, filter: LedgerFilter, fold: 0 | 1 = 0) {
  return {
    userId,
    fold,
    kind: filter.kind || null,
    from: filter.from ? `${filter.from}T00:00:00.000Z` : null,
    to: filter.to ? nextDay(filter.to) : null,
  };
}

/** One page of the user's ledger, newest first; `hasMore` when another page follows. */
export function* ledgerPage(userId: number, filter: LedgerFilter, page: number, perPage = 50): Op<{ rows: LedgerRow[]; hasMore: boolean }> {
  // One row per turn unless the reader asked for one kind (then the raw rows of that kind).
  const rows = yield* query('reports.ledgerPage', { ...ledgerWhere(userId, filter, filter.kind ? 0 : 1), ...pageWindow(page, perPage) });
  return pageOf(rows, perPage);
}

/** The user's ledger oldest first, in chunks after `afterId`, for streaming exports. */
export function* ledgerChunk(userId: number, filter: LedgerFilter, afterId: number, size = 500): Op<LedgerRow[]> {
  return yield* query('reports.ledgerChunk', { ...ledgerWhere(userId, filter), afterId, size });
}

export interface DashboardData {
  balance: number;
  today: number;
  month: number;
  total: Totals;
  /** Of today's spending, what went through API keys (/v1). */
  apiToday: number;
}

/** What views/partials/dashboard.eta shows. */
export function* dashboardData(userId: number, now = new Date()): Op<DashboardData> {
  return {
    balance: yield* balanceOf(userId), ...(yield* periodTotals(userId, now)),
    apiToday: yield* query('reports.apiSpentSince', { userId, since: startOfUtcDay(now) }),
  };
}
