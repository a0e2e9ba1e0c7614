// The ledger queries whose text is the same on SQLite and PostgreSQL (plain SQL both understand);
// each dialect's file adds the ones that differ.
import { get, run, value, type Text } from '../op';
import type { LedgerQueries } from '../queries/ledger';

/** Group columns that, set, are a limit an administrator put on the group's members. */
const GROUP_LIMITED = `g.tokens_per_day IS NOT NULL OR g.tokens_per_month IS NOT NULL
  OR g.requests_per_minute IS NOT NULL OR g.requests_per_hour IS NOT NULL OR g.answers_at_once IS NOT NULL`;

/** The groups whose rules the user follows: their own, or the built-in Everyone when they are in none. */
export const FOLLOWS = (g: string) => `(EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = ${g}.id AND m.user_id = @userId)
  OR (${g}.builtin = 1 AND NOT EXISTS (SELECT 1 FROM group_members m2 WHERE m2.user_id = @userId)))`;

/** No administrator's limit reaches the user: none set for them, none on a group whose rules they follow. */
export const NO_ORG_LIMITS = `NOT EXISTS (SELECT 1 FROM user_limits ul WHERE ul.user_id = @userId AND (ul.tokens_per_day IS NOT NULL
    OR ul.tokens_per_month IS NOT NULL OR ul.requests_per_minute IS NOT NULL OR ul.requests_per_hour IS NOT NULL OR ul.answers_at_once IS NOT NULL))
  AND NOT EXISTS (SELECT 1 FROM groups g WHERE (${GROUP_LIMITED}) AND ${FOLLOWS('g')})`;

/**
 * The condition for the one-statement reserve from own tokens (ledger.takeWhole): nothing of the
 * organisation's reaches into this user's reserve: no allowance bucket holds tokens, no
 * administrator's limit applies, and no group they follow gives an allowance. Otherwise
 * ledger.takeWholeBucket or reserveOp decides.
 */
export const PLAIN_RESERVE = `NOT EXISTS (SELECT 1 FROM allowances a WHERE a.user_id = @userId AND a.balance > 0)
  AND ${NO_ORG_LIMITS}
  AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.allowance IS NOT NULL AND ${FOLLOWS('g')})`;

/**
 * Nothing is due of the user's allowances at @now: every group they follow that gives one has
 * their bucket in a period not over, and no bucket of a group that no longer gives them one holds
 * tokens. (Otherwise reserveOp refills and empties first.)
 */
export const NOTHING_DUE = `NOT EXISTS (SELECT 1 FROM groups g WHERE g.allowance IS NOT NULL AND ${FOLLOWS('g')}
    AND NOT EXISTS (SELECT 1 FROM allowances a2 WHERE a2.user_id = @userId AND a2.group_id = g.id AND a2.ends_at > @now))
  AND NOT EXISTS (SELECT 1 FROM allowances a3 WHERE a3.user_id = @userId AND a3.balance > 0
    AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.id = a3.group_id AND g.allowance IS NOT NULL AND ${FOLLOWS('g')}))`;

/**
 * The user has fewer than @maxOpen holds open (TURNS_PER_USER), counted where a hold is: on the
 * balance row `b`, or (SQLite, one part from one bucket) on that bucket. Not counted when uncapped.
 */
export const UNDER_MAX_OPEN = (b: string) => `(@maxOpen >= ${Number.MAX_SAFE_INTEGER}
  OR ${b}.open_holds + (SELECT coalesce(sum(ao.open_holds), 0) FROM allowances ao WHERE ao.user_id = @userId) < @maxOpen)`;

export const ledgerShared = {
  'ledger.open': run('INSERT INTO balances (user_id) VALUES (@userId) ON CONFLICT (user_id) DO NOTHING'),
  'ledger.balance': value('SELECT balance FROM balances WHERE user_id = @userId'),
  'ledger.row': run(`INSERT INTO ledger (user_id, kind, amount, balance_after, actor_id, hold_id, code_id, note)
    VALUES (@userId, @kind, @amount, @balanceAfter, @actorId, @holdId, @codeId, @note)`),
  'ledger.newHold': value(`INSERT INTO holds (user_id, turn_key, model, amount, prompt_tokens, max_completion, prompt_rate, completion_rate, cached_rate, api_key_id, owner, rule_group, parts)
    VALUES (@userId, @turnKey, @model, @amount, @promptTokens, @maxCompletion, @promptRate, @completionRate, @cachedRate, @keyId, @owner, @ruleGroup, @parts)
    ON CONFLICT (user_id, turn_key) DO NOTHING RETURNING id`),
  'ledger.orderRow': run(`INSERT INTO ledger (user_id, kind, amount, balance_after, order_id, note)
    VALUES (@userId, @kind, @amount, @balanceAfter, @orderId, @note)`),
  'ledger.owed': value('SELECT coalesce(max(owed), 0) FROM balances WHERE user_id = @userId'),
  'ledger.openCount': value(`SELECT coalesce((SELECT open_holds FROM balances WHERE user_id = @userId), 0)
    + coalesce((SELECT sum(open_holds) FROM allowances WHERE user_id = @userId), 0)`),
  'ledger.heldBy': value(`SELECT coalesce(sum(amount), 0) FROM holds WHERE state = 'held' AND user_id = @userId`),
  'ledger.soFar': get(`SELECT prompt_tokens AS "promptTokens", delivered, prompt_rate AS "promptRate", completion_rate AS "completionRate"
    FROM holds WHERE id = @id AND state = 'held'`),
} satisfies Partial<Record<keyof LedgerQueries, Text>>;
