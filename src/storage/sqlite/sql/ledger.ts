// SQLite texts of the ledger queries.
import { get, run, value, values, type Text } from '../../op';
import type { LedgerQueries } from '../../queries/ledger';
import { ledgerShared } from '../../sql/ledger';

const HOLD_COLUMNS = `id, user_id AS userId, turn_key AS turnKey, model, amount, prompt_tokens AS promptTokens,
  max_completion AS maxCompletion, state, charge, prompt_rate AS promptRate, completion_rate AS completionRate,
  delivered`;
export const NOW = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;

export const ledgerSql: { readonly [K in keyof LedgerQueries]: Text } = {
  ...ledgerShared,
  'ledger.lockBalance': value('SELECT 1'),
  'ledger.add': value(`UPDATE balances SET balance = balance + @amount WHERE user_id = @userId AND balance + @amount BETWEEN 0 AND @max
    RETURNING balance`),
  'ledger.take': get(`UPDATE balances SET last_hold = min(balance, @full), balance = balance - min(balance, @full)
    WHERE user_id = @userId AND balance >= @minimum RETURNING last_hold AS held, balance`),
  'ledger.holdByKey': get(`SELECT ${HOLD_COLUMNS} FROM holds WHERE user_id = @userId AND turn_key = @turnKey`),
  'ledger.holdById': get(`SELECT ${HOLD_COLUMNS} FROM holds WHERE id = @id`),
  // Closing a hold also records the turn's usage on it (the `usage` view reads closed holds).
  'ledger.closeHold': run(`UPDATE holds SET state = @state, charge = @charge, closed_at = ${NOW},
    used_prompt_tokens = @promptTokens, completion_tokens = @completionTokens, uncollected = @uncollected,
    source = @source, outcome = @outcome, latency_ms = @latencyMs, conversation_id = @conversationId,
    message_id = @messageId, api_request_id = @apiRequestId
    WHERE id = @id AND state = 'held'`),
  'ledger.delivered': run(`UPDATE holds SET delivered = max(delivered, @tokens) WHERE id = @id AND state = 'held'`),
  'ledger.alive': run(`UPDATE holds SET alive_at = ${NOW} WHERE id IN (SELECT value FROM json_each(@ids)) AND state = 'held'`),
  'ledger.stale': values(`SELECT id FROM holds WHERE state = 'held' AND coalesce(alive_at, created_at) <=
    strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('-%.3f seconds', @olderThanMs / 1000.0))`),
};
