// SQLite texts of the ledger queries.
import { get, run, script, value, values, type Text } from '../../op';
import type { LedgerQueries } from '../../queries/ledger';
import { ledgerShared, NO_ORG_LIMITS, NOTHING_DUE, PLAIN_RESERVE, UNDER_MAX_OPEN } from '../../sql/ledger';

const HOLD_COLUMNS = `id, user_id AS userId, turn_key AS turnKey, model, amount, prompt_tokens AS promptTokens,
  max_completion AS maxCompletion, state, charge, prompt_rate AS promptRate, completion_rate AS completionRate,
  coalesce(cached_rate, prompt_rate) AS cachedRate, delivered, parts`;
export const NOW = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;
/** What closing a hold writes on it: its state, charge and the turn's usage (the `usage` view reads closed holds). */
const CLOSE = `UPDATE holds SET state = @state, charge = @charge, closed_at = ${NOW},
    used_prompt_tokens = @promptTokens, completion_tokens = @completionTokens, uncollected = @uncollected,
    source = @source, outcome = @outcome, latency_ms = @latencyMs, conversation_id = @conversationId,
    message_id = @messageId, api_request_id = @apiRequestId, cached_tokens = @cachedTokens,
    reasoning_tokens = @reasoningTokens, provider = @provider, upstream_model = @upstreamModel
    WHERE id = @id AND state = 'held'`;

export const ledgerSql: { readonly [K in keyof LedgerQueries]: Text } = {
  ...ledgerShared,
  'ledger.lockBalance': value('SELECT 1'),
  'ledger.addOwed': run('UPDATE balances SET owed = max(owed + @amount, 0) WHERE user_id = @userId'),
  'ledger.add': value(`UPDATE balances SET balance = balance + @amount WHERE user_id = @userId AND balance + @amount BETWEEN 0 AND @max
    RETURNING balance`),
  // @open: 1 when the hold counts open on the balance row, 0 when on its one bucket (queries/ledger.ts).
  'ledger.refund': value('UPDATE balances SET balance = balance + @amount, open_holds = max(open_holds - @open, 0) WHERE user_id = @userId RETURNING balance'),
  // The steps of one reserve; the writes come after every check, so a refusal writes nothing.
  'ledger.takeWhole': script(
    `SELECT user_id AS userId FROM balances b WHERE user_id = @userId AND balance >= @amount AND ${UNDER_MAX_OPEN('b')}
      AND (@limited = 0 OR NOT EXISTS (SELECT 1 FROM spend_limits s WHERE s.user_id = @userId AND (s.per_message IS NOT NULL OR s.per_day IS NOT NULL)))
      AND ${PLAIN_RESERVE}`,
    `INSERT INTO holds (user_id, turn_key, model, amount, prompt_tokens, max_completion, prompt_rate, completion_rate, cached_rate, api_key_id, owner, rule_group)
      VALUES (@userId, @turnKey, @model, @amount, @promptTokens, @maxCompletion, @promptRate, @completionRate, @cachedRate, @keyId, @owner, @ruleGroup)
      ON CONFLICT (user_id, turn_key) DO NOTHING RETURNING id`,
    'UPDATE balances SET balance = balance - @amount, open_holds = open_holds + 1 WHERE user_id = @userId RETURNING balance',
    `INSERT INTO ledger (user_id, kind, amount, balance_after, hold_id) VALUES (@userId, 'reserve', -@amount, @balance, @id)`,
  ),
  'ledger.closeKnown': script(
    `${CLOSE} AND parts IS NULL AND amount = @amount AND prompt_rate = @promptRate AND completion_rate = @completionRate
      AND coalesce(cached_rate, prompt_rate) = @cachedRate RETURNING user_id AS userId`,
    'UPDATE balances SET balance = balance + @refund, open_holds = max(open_holds - 1, 0) WHERE user_id = @userId RETURNING balance',
    'INSERT INTO ledger (user_id, kind, amount, balance_after, hold_id, note) VALUES (@userId, @kind, @refund, @balance, @id, @note)',
  ),
  'ledger.takeWholeBucket': script(
    `SELECT b.user_id AS userId, a.id AS bucketId, a.ends_at AS endsAt,
        b.balance AS balance, b.balance + (SELECT sum(balance) FROM allowances WHERE user_id = @userId AND balance > 0 AND ends_at > @now) - @amount AS total
      FROM balances b, allowances a WHERE b.user_id = @userId AND ${UNDER_MAX_OPEN('b')}
      AND a.id = (SELECT id FROM allowances WHERE user_id = @userId AND balance > 0 AND ends_at > @now ORDER BY ends_at, id LIMIT 1)
      AND a.balance >= @amount
      AND (@limited = 0 OR NOT EXISTS (SELECT 1 FROM spend_limits s WHERE s.user_id = @userId AND (s.per_message IS NOT NULL OR s.per_day IS NOT NULL)))
      AND ${NO_ORG_LIMITS} AND ${NOTHING_DUE}`,
    // The part as JSON.stringify writes it, so a reader of either path parses the same.
    `INSERT INTO holds (user_id, turn_key, model, amount, prompt_tokens, max_completion, prompt_rate, completion_rate, cached_rate, api_key_id, owner, rule_group, parts)
      VALUES (@userId, @turnKey, @model, @amount, @promptTokens, @maxCompletion, @promptRate, @completionRate, @cachedRate, @keyId, @owner, @ruleGroup,
        '[{"a":' || @bucketId || ',"n":' || CAST(@amount AS INTEGER) || ',"e":"' || @endsAt || '"}]')
      ON CONFLICT (user_id, turn_key) DO NOTHING RETURNING id, parts`,
    // The hold counts open on its bucket: the balance row is read, not written.
    'UPDATE allowances SET balance = balance - @amount, open_holds = open_holds + 1 WHERE id = @bucketId RETURNING balance AS bucketBalance',
    `INSERT INTO allowance_ledger (allowance_id, user_id, kind, amount, balance_after, hold_id)
      VALUES (@bucketId, @userId, 'reserve', -@amount, @bucketBalance, @id)`,
  ),
  'ledger.closeBucket': script(
    // The bucket still in the period the part was taken in (not refilled since), and that period not over.
    `${CLOSE} AND parts = @parts AND amount = @amount AND prompt_rate = @promptRate AND completion_rate = @completionRate
      AND coalesce(cached_rate, prompt_rate) = @cachedRate
      AND EXISTS (SELECT 1 FROM allowances WHERE id = @bucketId AND ends_at = @partEnd AND ends_at > @now)
      RETURNING user_id AS userId, (SELECT balance FROM balances b WHERE b.user_id = holds.user_id) AS balance`,
    'UPDATE allowances SET balance = balance + @refund, open_holds = max(open_holds - 1, 0) WHERE id = @bucketId RETURNING balance AS bucketBalance',
    `INSERT INTO allowance_ledger (allowance_id, user_id, kind, amount, balance_after, hold_id) VALUES (@bucketId, @userId, @kind, @refund, @bucketBalance, @id)`,
  ),
  'ledger.openOnBucket': run('UPDATE allowances SET open_holds = max(open_holds + @delta, 0) WHERE id = @id'),
  'ledger.take': get(`UPDATE balances SET last_hold = min(balance, @full), balance = balance - min(balance, @full), open_holds = open_holds + @open
    WHERE user_id = @userId AND balance >= @minimum RETURNING last_hold AS held, balance`),
  'ledger.holdByKey': get(`SELECT ${HOLD_COLUMNS} FROM holds WHERE user_id = @userId AND turn_key = @turnKey`),
  'ledger.holdById': get(`SELECT ${HOLD_COLUMNS} FROM holds WHERE id = @id`),
  'ledger.closeHold': run(CLOSE),
  'ledger.delivered': run(`UPDATE holds SET delivered = max(delivered, @tokens) WHERE id = @id AND state = 'held'`),
  'ledger.alive': run(`UPDATE holds SET alive_at = ${NOW} WHERE id IN (SELECT value FROM json_each(@ids)) AND state = 'held'`),
  'ledger.stale': values(`SELECT id FROM holds WHERE state = 'held' AND coalesce(alive_at, created_at) <=
    strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('-%.3f seconds', @olderThanMs / 1000.0))`),
};
