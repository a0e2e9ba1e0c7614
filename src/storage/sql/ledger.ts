// The ledger queries whose text is the same on SQLite and PostgreSQL (plain SQL both understand);
// each dialect's file adds the ones that differ.
import { run, value, type Text } from '../op';
import type { LedgerQueries } from '../queries/ledger';

export const ledgerShared = {
  'ledger.open': run('INSERT INTO balances (user_id) VALUES (@userId) ON CONFLICT (user_id) DO NOTHING'),
  'ledger.balance': value('SELECT balance FROM balances WHERE user_id = @userId'),
  'ledger.row': run(`INSERT INTO ledger (user_id, kind, amount, balance_after, actor_id, hold_id, code_id, note)
    VALUES (@userId, @kind, @amount, @balanceAfter, @actorId, @holdId, @codeId, @note)`),
  'ledger.newHold': value(`INSERT INTO holds (user_id, turn_key, model, amount, prompt_tokens, max_completion, prompt_rate, completion_rate, cached_rate, api_key_id, owner)
    VALUES (@userId, @turnKey, @model, @amount, @promptTokens, @maxCompletion, @promptRate, @completionRate, @cachedRate, @keyId, @owner)
    ON CONFLICT (user_id, turn_key) DO NOTHING RETURNING id`),
  'ledger.orderRow': run(`INSERT INTO ledger (user_id, kind, amount, balance_after, order_id, note)
    VALUES (@userId, @kind, @amount, @balanceAfter, @orderId, @note)`),
  'ledger.owed': value('SELECT coalesce(max(owed), 0) FROM balances WHERE user_id = @userId'),
  'ledger.openCount': value('SELECT coalesce(max(open_holds), 0) FROM balances WHERE user_id = @userId'),
  'ledger.heldBy': value(`SELECT coalesce(sum(amount), 0) FROM holds WHERE state = 'held' AND user_id = @userId`),
} satisfies Partial<Record<keyof LedgerQueries, Text>>;
