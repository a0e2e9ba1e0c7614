// PostgreSQL texts of the spend queries (translated from storage/sqlite/sql/spend.ts).
import { get, run, value, type Text } from '../../op';
import type { SpendQueries } from '../../queries/spend';
import { NOW } from './ledger';

export const spendSql: { readonly [K in keyof SpendQueries]: Text } = {
  'spend.limits': get('SELECT per_message AS "perMessage", per_day AS "perDay" FROM spend_limits WHERE user_id = @userId'),
  'spend.setLimits': run(`INSERT INTO spend_limits (user_id, per_message, per_day) VALUES (@userId, @perMessage, @perDay)
       ON CONFLICT (user_id) DO UPDATE SET per_message = excluded.per_message, per_day = excluded.per_day,
         updated_at = ${NOW}`),
  'spend.spentToday': value(`SELECT (SELECT coalesce(sum(charge), 0) FROM holds WHERE user_id = @userId AND closed_at >= @since::text)
    + (SELECT coalesce(sum(amount), 0) FROM holds WHERE state = 'held' AND user_id = @userId) AS spent`),
};
