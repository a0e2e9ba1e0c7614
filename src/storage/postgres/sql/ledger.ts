// PostgreSQL texts of the ledger queries (translated from storage/sqlite/sql/ledger.ts).
import { get, run, value, values, type Text } from '../../op';
import type { LedgerQueries } from '../../queries/ledger';
import { ledgerShared } from '../../sql/ledger';

const HOLD_COLUMNS = `id, user_id AS "userId", turn_key AS "turnKey", model, amount, prompt_tokens AS "promptTokens",
  max_completion AS "maxCompletion", state, charge, prompt_rate AS "promptRate", completion_rate AS "completionRate",
  delivered`;
/** The current time as ISO text, like SQLite's strftime('%Y-%m-%dT%H:%M:%fZ', 'now') (defined by the schema). */
export const NOW = 'iso_now()';

export const ledgerSql: { readonly [K in keyof LedgerQueries]: Text } = {
  ...ledgerShared,
  'ledger.lockBalance': value('SELECT 1 FROM balances WHERE user_id = @userId FOR UPDATE'),
  'ledger.add': value(`UPDATE balances SET balance = balance + @amount::bigint WHERE user_id = @userId AND balance + @amount::bigint BETWEEN 0 AND @max::bigint
    RETURNING balance`),
  'ledger.take': get(`UPDATE balances SET last_hold = LEAST(balance, @full::bigint), balance = balance - LEAST(balance, @full::bigint)
    WHERE user_id = @userId AND balance >= @minimum::bigint RETURNING last_hold AS held, balance`),
  'ledger.holdByKey': get(`SELECT ${HOLD_COLUMNS} FROM holds WHERE user_id = @userId AND turn_key = @turnKey`),
  // Locked: two processes closing one hold (a settle and a recovery sweep) take turns, and the
  // second sees it closed.
  'ledger.holdById': get(`SELECT ${HOLD_COLUMNS} FROM holds WHERE id = @id FOR UPDATE`),
  // Closing a hold also records the turn's usage on it (the `usage` view reads closed holds).
  'ledger.closeHold': run(`UPDATE holds SET state = @state, charge = @charge, closed_at = ${NOW},
    used_prompt_tokens = @promptTokens, completion_tokens = @completionTokens, uncollected = @uncollected,
    source = @source, outcome = @outcome, latency_ms = @latencyMs, conversation_id = @conversationId,
    message_id = @messageId, api_request_id = @apiRequestId
    WHERE id = @id AND state = 'held'`),
  'ledger.delivered': run(`UPDATE holds SET delivered = GREATEST(delivered, @tokens::bigint) WHERE id = @id AND state = 'held'`),
  'ledger.alive': run(`UPDATE holds SET alive_at = ${NOW}
    WHERE id IN (SELECT jsonb_array_elements_text(@ids::jsonb)::bigint) AND state = 'held'`),
  'ledger.stale': values(`SELECT id FROM holds WHERE state = 'held' AND coalesce(alive_at, created_at) <=
    to_char((statement_timestamp() - @olderThanMs::bigint * interval '1 millisecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`),
};
