// The ledger queries whose text is the same on SQLite and PostgreSQL (plain SQL both understand);
// each dialect's file adds the ones that differ.
import { run, value, type Text } from '../op';
import type { LedgerQueries } from '../queries/ledger';

/** Group columns that, set, make a group's rules reach into the reserve (an allowance or a limit). */
const GROUP_RULED = `g.allowance IS NOT NULL OR g.tokens_per_day IS NOT NULL OR g.tokens_per_month IS NOT NULL
  OR g.requests_per_minute IS NOT NULL OR g.requests_per_hour IS NOT NULL OR g.answers_at_once IS NOT NULL`;

/**
 * The condition for the one-statement reserve (ledger.takeWhole): nothing of the organisation's
 * reaches into this user's reserve: no allowance bucket holds tokens, no administrator's limit is
 * set for them, and none of the groups whose rules they follow (their own, or Everyone's when they
 * are in none) has an allowance or a limit. Otherwise reserveOp decides, in a transaction.
 */
export const PLAIN_RESERVE = `NOT EXISTS (SELECT 1 FROM allowances a WHERE a.user_id = @userId AND a.balance > 0)
  AND NOT EXISTS (SELECT 1 FROM user_limits ul WHERE ul.user_id = @userId AND (ul.tokens_per_day IS NOT NULL
    OR ul.tokens_per_month IS NOT NULL OR ul.requests_per_minute IS NOT NULL OR ul.requests_per_hour IS NOT NULL OR ul.answers_at_once IS NOT NULL))
  AND NOT EXISTS (SELECT 1 FROM groups g WHERE (${GROUP_RULED}) AND (
    EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND m.user_id = @userId)
    OR (g.builtin = 1 AND NOT EXISTS (SELECT 1 FROM group_members m2 WHERE m2.user_id = @userId))))`;

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
  'ledger.openCount': value('SELECT coalesce(max(open_holds), 0) FROM balances WHERE user_id = @userId'),
  'ledger.heldBy': value(`SELECT coalesce(sum(amount), 0) FROM holds WHERE state = 'held' AND user_id = @userId`),
} satisfies Partial<Record<keyof LedgerQueries, Text>>;
