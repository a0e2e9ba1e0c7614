// PostgreSQL texts of the ledger queries (translated from storage/sqlite/sql/ledger.ts).
import { get, none, run, value, values, type Text } from '../../op';
import type { LedgerQueries } from '../../queries/ledger';
import { ledgerShared, PLAIN_RESERVE } from '../../sql/ledger';

const HOLD_COLUMNS = `id, user_id AS "userId", turn_key AS "turnKey", model, amount, prompt_tokens AS "promptTokens",
  max_completion AS "maxCompletion", state, charge, prompt_rate AS "promptRate", completion_rate AS "completionRate",
  coalesce(cached_rate, prompt_rate) AS "cachedRate", delivered, parts`;
/** The current time as ISO text, like SQLite's strftime('%Y-%m-%dT%H:%M:%fZ', 'now') (defined by the schema). */
export const NOW = 'iso_now()';
/** What closing a hold writes on it: its state, charge and the turn's usage (the `usage` view reads closed holds). */
const CLOSE = `UPDATE holds SET state = @state::text, charge = @charge::bigint, closed_at = ${NOW},
    used_prompt_tokens = @promptTokens::bigint, completion_tokens = @completionTokens::bigint, uncollected = @uncollected::bigint,
    source = @source::text, outcome = @outcome::text, latency_ms = @latencyMs::bigint, conversation_id = @conversationId::bigint,
    message_id = @messageId::bigint, api_request_id = @apiRequestId::text, cached_tokens = @cachedTokens::bigint,
    reasoning_tokens = @reasoningTokens::bigint, provider = @provider::text, upstream_model = @upstreamModel::text
    WHERE id = @id::bigint AND state = 'held'`;

export const ledgerSql: { readonly [K in keyof LedgerQueries]: Text } = {
  ...ledgerShared,
  'ledger.lockBalance': value('SELECT 1 FROM balances WHERE user_id = @userId FOR UPDATE'),
  'ledger.addOwed': run('UPDATE balances SET owed = GREATEST(owed + @amount::bigint, 0) WHERE user_id = @userId'),
  'ledger.add': value(`UPDATE balances SET balance = balance + @amount::bigint WHERE user_id = @userId AND balance + @amount::bigint BETWEEN 0 AND @max::bigint
    RETURNING balance`),
  // Every hold counts open on the balance row here (migration 033): @open, SQLite's choice, is not read.
  'ledger.refund': value(`UPDATE balances SET balance = balance + @amount::bigint, open_holds = GREATEST(open_holds - 1, 0)
    WHERE user_id = @userId RETURNING balance`),
  // One statement, one round trip. The balance row is locked first (a second reserve of the user
  // waits, then sees the first's take and open hold: the conditions are checked again on the row
  // as it is then); a turn key already used inserts nothing, so nothing after it writes.
  'ledger.takeWhole': get(`WITH b AS (
      SELECT user_id FROM balances WHERE user_id = @userId AND balance >= @amount::bigint AND open_holds < @maxOpen::bigint
        AND (@limited::int = 0 OR NOT EXISTS (SELECT 1 FROM spend_limits s WHERE s.user_id = @userId
          AND (s.per_message IS NOT NULL OR s.per_day IS NOT NULL)))
        AND ${PLAIN_RESERVE}
      FOR UPDATE
    ), h AS (
      INSERT INTO holds (user_id, turn_key, model, amount, prompt_tokens, max_completion, prompt_rate, completion_rate, cached_rate, api_key_id, owner, rule_group)
      SELECT user_id, @turnKey::text, @model::text, @amount::bigint, @promptTokens::bigint, @maxCompletion::bigint,
        @promptRate::bigint, @completionRate::bigint, @cachedRate::bigint, @keyId::bigint, @owner::text, @ruleGroup::text FROM b
      ON CONFLICT (user_id, turn_key) DO NOTHING RETURNING id, user_id
    ), t AS (
      UPDATE balances SET balance = balances.balance - @amount::bigint, open_holds = balances.open_holds + 1
      FROM h WHERE balances.user_id = h.user_id RETURNING balances.balance
    ), l AS (
      INSERT INTO ledger (user_id, kind, amount, balance_after, hold_id)
      SELECT h.user_id, 'reserve', -@amount::bigint, t.balance, h.id FROM h, t
    )
    SELECT h.id, t.balance FROM h, t`),
  // One statement: the hold row is locked by its UPDATE, so a settle and a recovery sweep closing
  // it at once take turns, and the second finds it closed (and writes nothing).
  'ledger.closeKnown': get(`WITH h AS (
      ${CLOSE} AND parts IS NULL AND amount = @amount::bigint AND prompt_rate = @promptRate::bigint AND completion_rate = @completionRate::bigint
        AND coalesce(cached_rate, prompt_rate) = @cachedRate::bigint
      RETURNING user_id
    ), b AS (
      UPDATE balances SET balance = balances.balance + @refund::bigint, open_holds = GREATEST(balances.open_holds - 1, 0)
      FROM h WHERE balances.user_id = h.user_id RETURNING balances.user_id, balances.balance
    ), l AS (
      INSERT INTO ledger (user_id, kind, amount, balance_after, hold_id, note)
      SELECT b.user_id, @kind::text, @refund::bigint, b.balance, @id::bigint, @note::text FROM b
    )
    SELECT user_id AS "userId", balance FROM b`),
  // SQLite only (see queries/ledger.ts): ledger.ts never asks PostgreSQL for these; the text says so if it ever did.
  'ledger.takeWholeBucket': get(`SELECT NULL AS id WHERE false -- ledger.takeWholeBucket is SQLite's only`),
  'ledger.closeBucket': get(`SELECT NULL AS "userId" WHERE false -- ledger.closeBucket is SQLite's only`),
  'ledger.openOnBucket': none('PostgreSQL counts every hold open on balances (migration 033)'),
  'ledger.take': get(`UPDATE balances SET last_hold = LEAST(balance, @full::bigint), balance = balance - LEAST(balance, @full::bigint),
    open_holds = open_holds + 1
    WHERE user_id = @userId AND balance >= @minimum::bigint RETURNING last_hold AS held, balance`),
  'ledger.holdByKey': get(`SELECT ${HOLD_COLUMNS} FROM holds WHERE user_id = @userId AND turn_key = @turnKey`),
  // Locked: two processes closing one hold (a settle and a recovery sweep) take turns, and the
  // second sees it closed.
  'ledger.holdById': get(`SELECT ${HOLD_COLUMNS} FROM holds WHERE id = @id FOR UPDATE`),
  'ledger.closeHold': run(CLOSE),
  'ledger.delivered': run(`UPDATE holds SET delivered = GREATEST(delivered, @tokens::bigint) WHERE id = @id AND state = 'held'`),
  'ledger.alive': run(`UPDATE holds SET alive_at = ${NOW}
    WHERE id IN (SELECT jsonb_array_elements_text(@ids::jsonb)::bigint) AND state = 'held'`),
  'ledger.stale': values(`SELECT id FROM holds WHERE state = 'held' AND coalesce(alive_at, created_at) <=
    to_char((statement_timestamp() - @olderThanMs::bigint * interval '1 millisecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`),
};
