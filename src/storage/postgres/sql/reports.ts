// PostgreSQL texts of the reports queries (translated from storage/sqlite/sql/reports.ts). Days are
// UTC days; times in the tables are ISO text, so ranges are string comparisons.
import { all, get, run, value, type Text } from '../../op';
import type { ReportQueries } from '../../queries/reports';
import { reportsShared } from '../../sql/reports';

const TOTALS = `coalesce(sum(turns), 0) AS turns, coalesce(sum(charge), 0) AS charge,
  coalesce(sum(prompt), 0) AS prompt, coalesce(sum(completion), 0) AS completion`;

/**
 * A FROM clause: the turns closed since @since (a UTC day boundary, or '' for all time) of one user
 * (@userId), of everyone summed ('everyone', user_id NULL), or of everyone user by user ('each'),
 * as rows (user_id, day, model, turns, charge, prompt, completion): the rollup's days
 * (usage-rollup.ts), then each turn closed after its mark, read from holds through their closed_at
 * indexes. One statement reads both, so it sees one mark.
 */
function turnsSince(scope: 'user' | 'everyone' | 'each'): string {
  const oneUser = scope === 'user' ? 'user_id = @userId AND ' : '';
  const rolled =
    scope === 'everyone'
      ? 'SELECT NULL::bigint AS user_id, day, model, turns, charge, prompt, completion FROM usage_daily_all WHERE day >= substr(@since::text, 1, 10)'
      : `SELECT user_id, day, model, turns, charge, prompt, completion FROM usage_daily WHERE ${oneUser}day >= substr(@since::text, 1, 10)`;
  const tail = `SELECT user_id, substr(created_at, 1, 10), model, 1, charge, prompt_tokens, completion_tokens FROM usage
    WHERE ${oneUser}created_at >= GREATEST(@since::text, (SELECT rolled_until FROM usage_rollup WHERE id = 1))`;
  return `(${rolled} UNION ALL ${tail}) AS turns_since`;
}

// ORDER BY day: SQLite's GROUP BY happens to return the days in order (the callers index them by day).
const daily = (scope: 'user' | 'everyone') => all(`SELECT day, ${TOTALS} FROM ${turnsSince(scope)} GROUP BY day ORDER BY day COLLATE "C"`);
const period = (scope: 'user' | 'everyone') =>
  get(`SELECT ${TOTALS}, coalesce(sum(CASE WHEN day >= @today::text THEN charge END), 0) AS "todayCharge",
         coalesce(sum(CASE WHEN day >= @month::text THEN charge END), 0) AS "monthCharge"
       FROM ${turnsSince(scope)}`);
// COLLATE "C": model names ordered by their bytes, as SQLite's BINARY collation does.
const byModel = (scope: 'user' | 'everyone') =>
  all(`SELECT model, ${TOTALS} FROM ${turnsSince(scope)} GROUP BY model ORDER BY charge DESC, model COLLATE "C"`);

// Reserve and settle rows share the turn's hold, whose usage row names the model and message.
const LEDGER_SELECT = `SELECT l.id, l.created_at AS "createdAt", l.kind, l.amount, l.balance_after AS "balanceAfter", l.note,
  coalesce(u.model, h.model) AS model, u.prompt_tokens AS "promptTokens", u.completion_tokens AS "completionTokens",
  u.conversation_id AS "conversationId", u.message_id AS "messageId", k.name AS "apiKey",
  CASE WHEN l.kind = 'settle' THEN h.cached_tokens END AS "cachedTokens", CASE WHEN l.kind = 'settle' THEN h.reasoning_tokens END AS "reasoningTokens",
  h.provider, h.amount AS "heldAmount", h.state AS "holdState"
  FROM ledger l LEFT JOIN holds h ON h.id = l.hold_id LEFT JOIN usage u ON u.hold_id = l.hold_id
  LEFT JOIN api_keys k ON k.id = h.api_key_id`;
const LEDGER_WHERE = `l.user_id = @userId AND (@kind::text IS NULL OR l.kind = @kind::text)
  AND (@from::text IS NULL OR l.created_at >= @from::text) AND (@to::text IS NULL OR l.created_at < @to::text)
  AND (@fold::int = 0 OR l.kind <> 'reserve' OR NOT EXISTS (SELECT 1 FROM ledger c WHERE c.hold_id = l.hold_id AND c.kind IN ('settle', 'release')))`;

const SUMS = `count(*), coalesce(sum(charge), 0), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0)`;
const add = (table: string) => `turns = ${table}.turns + excluded.turns, charge = ${table}.charge + excluded.charge,
  prompt = ${table}.prompt + excluded.prompt, completion = ${table}.completion + excluded.completion`;
const VERIFY_SUMS = 'count(*) AS turns, coalesce(sum(charge), 0) AS charge, coalesce(sum(prompt_tokens), 0) AS prompt, coalesce(sum(completion_tokens), 0) AS completion';

export const reportsSql: { readonly [K in keyof ReportQueries]: Text } = {
  'rollup.markForStep': value('SELECT rolled_until FROM usage_rollup WHERE id = 1 FOR UPDATE'),
  ...reportsShared,
  'reports.dailyOfUser': daily('user'),
  'reports.dailyOfAll': daily('everyone'),
  'reports.periodOfUser': period('user'),
  'reports.periodOfAll': period('everyone'),
  'reports.byModelOfUser': byModel('user'),
  'reports.byModelOfAll': byModel('everyone'),
  'reports.apiSpentSince': value(`SELECT coalesce(sum(charge), 0) FROM holds
    WHERE user_id = @userId AND api_key_id IS NOT NULL AND state <> 'held' AND closed_at >= @since::text`),
  'reports.bySource': all(`SELECT k.name AS "apiKey", count(*) AS turns, coalesce(sum(h.charge), 0) AS charge
    FROM holds h LEFT JOIN api_keys k ON k.id = h.api_key_id
    WHERE h.user_id = @userId AND h.state <> 'held' GROUP BY h.api_key_id, k.name ORDER BY h.api_key_id IS NOT NULL, charge DESC`),
  'reports.byConversation': all(`SELECT t.*, nullif(c.title, '') AS title, (c.id IS NOT NULL)::integer AS "exists" FROM (
         SELECT conversation_id AS "conversationId", max(created_at) AS "last", count(*) AS turns, coalesce(sum(charge), 0) AS charge,
           coalesce(sum(prompt_tokens), 0) AS prompt, coalesce(sum(completion_tokens), 0) AS completion FROM usage
         WHERE user_id = @userId AND conversation_id IS NOT NULL GROUP BY conversation_id ORDER BY "last" DESC LIMIT @limit) t
       LEFT JOIN conversations c ON c.id = t."conversationId" AND c.user_id = @userId
       ORDER BY t."last" DESC`),
  'reports.topUsers': all(`SELECT u.id AS "userId", u.username, t.turns, t.charge, t.prompt, t.completion
       FROM (SELECT user_id, ${TOTALS} FROM ${turnsSince('each')} GROUP BY user_id) t
       JOIN users u ON u.id = t.user_id ORDER BY t.charge DESC, u.id LIMIT @limit`),
  'reports.ledgerPage': all(`${LEDGER_SELECT} WHERE ${LEDGER_WHERE} ORDER BY l.id DESC LIMIT @limit OFFSET @offset`),
  'reports.ledgerChunk': all(`${LEDGER_SELECT} WHERE ${LEDGER_WHERE} AND l.id > @afterId ORDER BY l.id LIMIT @size`),

  'rollup.perUser': run(`INSERT INTO usage_daily (user_id, day, model, turns, charge, prompt, completion)
                SELECT user_id, substr(created_at, 1, 10), model, ${SUMS} FROM usage
                WHERE created_at >= @from::text AND created_at < @to::text GROUP BY 1, 2, 3
                ON CONFLICT (user_id, day, model) DO UPDATE SET ${add('usage_daily')}`),
  'rollup.everyone': run(`INSERT INTO usage_daily_all (day, model, turns, charge, prompt, completion)
                 SELECT substr(created_at, 1, 10), model, ${SUMS} FROM usage
                 WHERE created_at >= @from::text AND created_at < @to::text GROUP BY 1, 2
                 ON CONFLICT (day, model) DO UPDATE SET ${add('usage_daily_all')}`),
  'rollup.move': run('UPDATE usage_rollup SET rolled_until = @to::text WHERE id = 1 AND rolled_until = @from::text'),

  'verify.sums': all(`SELECT u.id AS "userId", coalesce(b.balance, 0) AS balance, coalesce(sum(l.amount), 0) AS total
       FROM users u LEFT JOIN balances b ON b.user_id = u.id LEFT JOIN ledger l ON l.user_id = u.id
       GROUP BY u.id, b.user_id ORDER BY u.id`),
  'verify.lastRows': all(`SELECT l.user_id AS "userId", l.balance_after AS after, coalesce(b.balance, 0) AS balance FROM ledger l
       JOIN (SELECT user_id, max(id) AS id FROM ledger GROUP BY user_id) m ON m.id = l.id
       LEFT JOIN balances b ON b.user_id = l.user_id WHERE l.balance_after <> coalesce(b.balance, 0) ORDER BY l.user_id`),
  'verify.stale': all(`SELECT id, user_id AS "userId", coalesce(alive_at, created_at) AS at FROM holds WHERE state = 'held' AND coalesce(alive_at, created_at) <= @cutoff::text`),
  'verify.owed': all(`SELECT * FROM (SELECT b.user_id AS "userId", b.owed,
      coalesce((SELECT -sum(amount) FROM ledger l WHERE l.user_id = b.user_id AND l.kind = 'refund'), 0) AS taken,
      coalesce((SELECT sum(tokens_back) FROM orders o WHERE o.user_id = b.user_id), 0) AS due FROM balances b) c
    WHERE owed + taken <> due`),
  // Counted on the balance row, or on the bucket a hold was taken whole from (migration 033).
  'verify.openHolds': all(`SELECT * FROM (SELECT b.user_id AS "userId",
      b.open_holds + coalesce((SELECT sum(a.open_holds) FROM allowances a WHERE a.user_id = b.user_id), 0) AS counted,
      (SELECT count(*) FROM holds h WHERE h.user_id = b.user_id AND h.state = 'held') AS held FROM balances b) c
    WHERE counted <> held`),
  'verify.unbalancedHolds': all(`SELECT h.id, h.user_id AS "userId" FROM holds h WHERE h.state <> 'held' AND
       h.amount - coalesce(h.charge, 0) <> coalesce((SELECT sum(amount) FROM ledger WHERE hold_id = h.id AND kind IN ('settle', 'release')), 0)
         + coalesce((SELECT sum(amount) FROM allowance_ledger WHERE hold_id = h.id AND kind IN ('settle', 'release')), 0)`),
  'verify.rollup': all(`WITH mark AS (SELECT rolled_until AS at FROM usage_rollup WHERE id = 1),
         turns AS (SELECT user_id, substr(created_at, 1, 10) AS day, model, ${VERIFY_SUMS} FROM usage WHERE created_at < (SELECT at FROM mark) GROUP BY 1, 2, 3),
         everyone AS (SELECT day, model, sum(turns) AS turns, sum(charge) AS charge, sum(prompt) AS prompt, sum(completion) AS completion FROM turns GROUP BY 1, 2)
       SELECT t.user_id AS "userId", t.day, t.model, 'user' AS scope FROM turns t
         LEFT JOIN usage_daily d USING (user_id, day, model)
         WHERE d.turns IS DISTINCT FROM t.turns OR d.charge IS DISTINCT FROM t.charge OR d.prompt IS DISTINCT FROM t.prompt
           OR d.completion IS DISTINCT FROM t.completion
       UNION ALL
       SELECT d.user_id, d.day, d.model, 'user' FROM usage_daily d LEFT JOIN turns t USING (user_id, day, model) WHERE t.turns IS NULL
       UNION ALL
       SELECT NULL, e.day, e.model, 'everyone' FROM everyone e LEFT JOIN usage_daily_all a USING (day, model)
         WHERE a.turns IS DISTINCT FROM e.turns OR a.charge IS DISTINCT FROM e.charge OR a.prompt IS DISTINCT FROM e.prompt
           OR a.completion IS DISTINCT FROM e.completion
       UNION ALL
       SELECT NULL, a.day, a.model, 'everyone' FROM usage_daily_all a LEFT JOIN everyone e USING (day, model) WHERE e.turns IS NULL`),
};
