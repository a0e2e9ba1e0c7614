// Read-only reports over the usage and ledger tables (which ledger.ts writes): a user's or the
// whole system's spending by period, model, conversation and day, and the ledger history.
// Days are UTC days; times in the tables are ISO text, so ranges are string comparisons.
import type SqliteDatabase from 'better-sqlite3';
import { pageOf, pageWindow } from './db';
import { balanceOf } from './ledger';
import { startOfUtcDay } from './spend-limits';

type Raw = SqliteDatabase.Database;

export const LEDGER_KINDS = ['signup_bonus', 'grant', 'redeem', 'reserve', 'settle', 'release', 'adjust'] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];
export const CHART_DAYS = 30;

export interface Totals {
  turns: number;
  charge: number;
  prompt: number;
  completion: number;
}
export interface ModelRow extends Totals {
  model: string;
}
export interface ConversationRow extends Totals {
  conversationId: number;
  /** null when the conversation was deleted (its turns still count), or never titled. */
  title: string | null;
  exists: 0 | 1;
  last: string;
}
export interface DayRow extends Totals {
  day: string;
}
export interface UserUsageRow extends Totals {
  userId: number;
  username: string;
}

export interface Summary {
  today: number;
  month: number;
  total: Totals;
  byModel: ModelRow[];
  daily: DayRow[];
}

const TOTALS = `coalesce(sum(turns), 0) AS turns, coalesce(sum(charge), 0) AS charge,
  coalesce(sum(prompt), 0) AS prompt, coalesce(sum(completion), 0) AS completion`;

/**
 * A FROM clause: the turns closed since @since (a UTC day boundary, or '' for all time) of one user
 * (@userId), of everyone summed ('everyone', user_id NULL), or of everyone user by user ('each'),
 * as rows (user_id, day, model, turns, charge, prompt, completion): the rollup's days
 * (usage-rollup.ts), then each turn closed after its mark, read from holds through their closed_at
 * indexes. One statement reads both, so it sees one mark.
 */
function turnsSince(scope: number | 'everyone' | 'each'): string {
  const oneUser = typeof scope === 'number' ? 'user_id = @userId AND ' : '';
  const rolled =
    scope === 'everyone'
      ? 'SELECT NULL AS user_id, day, model, turns, charge, prompt, completion FROM usage_daily_all WHERE day >= substr(@since, 1, 10)'
      : `SELECT user_id, day, model, turns, charge, prompt, completion FROM usage_daily WHERE ${oneUser}day >= substr(@since, 1, 10)`;
  const tail = `SELECT user_id, substr(created_at, 1, 10), model, 1, charge, prompt_tokens, completion_tokens FROM usage
    WHERE ${oneUser}created_at >= max(@since, (SELECT rolled_until FROM usage_rollup WHERE id = 1))`;
  return `(${rolled} UNION ALL ${tail})`;
}

/** One user's turns, or everyone's summed when userId is undefined. */
const scopeOf = (userId: number | undefined) => userId ?? 'everyone';

const params = (userId: number | undefined, since: string) => (userId === undefined ? { since } : { userId, since });

/** The last `days` UTC days, oldest first, ending today. */
export function lastDays(days = CHART_DAYS, now = new Date()): string[] {
  const today = Date.parse(startOfUtcDay(now));
  return Array.from({ length: days }, (_, i) => new Date(today - (days - 1 - i) * 86_400_000).toISOString().slice(0, 10));
}

export function dailyUsage(raw: Raw, userId?: number, now = new Date()): DayRow[] {
  const days = lastDays(CHART_DAYS, now);
  const rows = raw
    .prepare(`SELECT day, ${TOTALS} FROM ${turnsSince(scopeOf(userId))} GROUP BY day`)
    .all(params(userId, `${days[0]}T00:00:00.000Z`)) as DayRow[];
  const byDay = new Map(rows.map((r) => [r.day, r]));
  return days.map((day) => byDay.get(day) ?? { day, turns: 0, charge: 0, prompt: 0, completion: 0 });
}

/** Charged today and this month (UTC), and all-time totals; for one user or for everyone. */
export function periodTotals(raw: Raw, userId?: number, now = new Date()): { today: number; month: number; total: Totals } {
  const today = startOfUtcDay(now).slice(0, 10);
  const { todayCharge, monthCharge, ...total } = raw
    .prepare(
      `SELECT ${TOTALS}, coalesce(sum(CASE WHEN day >= @today THEN charge END), 0) AS todayCharge,
         coalesce(sum(CASE WHEN day >= @month THEN charge END), 0) AS monthCharge
       FROM ${turnsSince(scopeOf(userId))}`,
    )
    .get({ ...params(userId, ''), today, month: `${today.slice(0, 7)}-01` }) as Totals & { todayCharge: number; monthCharge: number };
  return { today: todayCharge, month: monthCharge, total };
}

/** Spending by period, model and day; for one user or for everyone. */
export function summary(raw: Raw, userId?: number, now = new Date()): Summary {
  return {
    ...periodTotals(raw, userId, now),
    byModel: raw
      .prepare(`SELECT model, ${TOTALS} FROM ${turnsSince(scopeOf(userId))} GROUP BY model ORDER BY charge DESC, model`)
      .all(params(userId, '')) as ModelRow[],
    daily: dailyUsage(raw, userId, now),
  };
}

export function userSummary(raw: Raw, userId: number, now = new Date()) {
  return { balance: balanceOf(raw, userId), ...summary(raw, userId, now), byConversation: byConversation(raw, userId) };
}

/** The user's conversations with the most recent spending first. */
export function byConversation(raw: Raw, userId: number, limit = 10): ConversationRow[] {
  return raw
    .prepare(
      `SELECT t.*, nullif(c.title, '') AS title, c.id IS NOT NULL AS "exists" FROM (
         SELECT conversation_id AS conversationId, max(created_at) AS last, count(*) AS turns, coalesce(sum(charge), 0) AS charge,
           coalesce(sum(prompt_tokens), 0) AS prompt, coalesce(sum(completion_tokens), 0) AS completion FROM usage
         WHERE user_id = @userId AND conversation_id IS NOT NULL GROUP BY conversation_id ORDER BY last DESC LIMIT @limit) t
       LEFT JOIN conversations c ON c.id = t.conversationId AND c.user_id = @userId
       ORDER BY t.last DESC`,
    )
    .all({ userId, limit }) as ConversationRow[];
}

/** The users who spent the most since `since` (a UTC day boundary; all time when undefined). */
export function topUsers(raw: Raw, limit = 10, since = ''): UserUsageRow[] {
  return raw
    .prepare(
      `SELECT u.id AS userId, u.username, t.turns, t.charge, t.prompt, t.completion
       FROM (SELECT user_id, ${TOTALS} FROM ${turnsSince('each')} GROUP BY user_id) t
       JOIN users u ON u.id = t.user_id ORDER BY t.charge DESC, u.id LIMIT @limit`,
    )
    .all({ since, limit }) as UserUsageRow[];
}

// ---- ledger history -------------------------------------------------------------------------

export interface LedgerFilter {
  kind?: LedgerKind;
  /** YYYY-MM-DD, inclusive (UTC). */
  from?: string;
  to?: string;
}

export interface LedgerRow {
  id: number;
  createdAt: string;
  kind: LedgerKind;
  amount: number;
  balanceAfter: number;
  note: string | null;
  model: string | null;
  promptTokens: number | null;
  completionTokens: number | null;
  conversationId: number | null;
  messageId: number | null;
}

const nextDay = (day: string) => new Date(Date.parse(`${day}T00:00:00.000Z`) + 86_400_000).toISOString();

function ledgerWhere(userId: number, filter: LedgerFilter) {
  const clauses = ['l.user_id = @userId'];
  const params: Record<string, string | number> = { userId };
  if (filter.kind) (clauses.push('l.kind = @kind'), (params.kind = filter.kind));
  if (filter.from) (clauses.push('l.created_at >= @from'), (params.from = `${filter.from}T00:00:00.000Z`));
  if (filter.to) (clauses.push('l.created_at < @to'), (params.to = nextDay(filter.to)));
  return { where: clauses.join(' AND '), params };
}

// Reserve and settle rows share the turn's hold, whose usage row names the model and message.
const LEDGER_SELECT = `SELECT l.id, l.created_at AS createdAt, l.kind, l.amount, l.balance_after AS balanceAfter, l.note,
  coalesce(u.model, h.model) AS model, u.prompt_tokens AS promptTokens, u.completion_tokens AS completionTokens,
  u.conversation_id AS conversationId, u.message_id AS messageId
  FROM ledger l LEFT JOIN holds h ON h.id = l.hold_id LEFT JOIN usage u ON u.hold_id = l.hold_id`;

/** One page of the user's ledger, newest first; `hasMore` when another page follows. */
export function ledgerPage(raw: Raw, userId: number, filter: LedgerFilter, page: number, perPage = 50) {
  const { where, params } = ledgerWhere(userId, filter);
  const rows = raw
    .prepare(`${LEDGER_SELECT} WHERE ${where} ORDER BY l.id DESC LIMIT @limit OFFSET @offset`)
    .all({ ...params, ...pageWindow(page, perPage) }) as LedgerRow[];
  return pageOf(rows, perPage);
}

/** The user's ledger oldest first, in chunks after `afterId`, for streaming exports. */
export function ledgerChunk(raw: Raw, userId: number, filter: LedgerFilter, afterId: number, size = 500): LedgerRow[] {
  const { where, params } = ledgerWhere(userId, filter);
  return raw
    .prepare(`${LEDGER_SELECT} WHERE ${where} AND l.id > @afterId ORDER BY l.id LIMIT @size`)
    .all({ ...params, afterId, size }) as LedgerRow[];
}

/** What views/partials/dashboard.eta shows. */
export function dashboardData(raw: Raw, userId: number, now = new Date()) {
  return { balance: balanceOf(raw, userId), ...periodTotals(raw, userId, now) };
}
export type DashboardData = ReturnType<typeof dashboardData>;
