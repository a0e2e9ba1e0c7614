// SQLite texts of the admin queries.
import { all, get, type Text } from '../../op';
import type { AdminQueries } from '../../queries/admin';
import { adminShared } from '../../sql/admin';

// Each listed user's usage: their days in the usage rollup plus their turns closed after its mark
// (usage-rollup.ts), so a page view does not add up every turn ever taken.
const userUsage = (rolled: string, perTurn: string) => `(SELECT coalesce(sum(x), 0) FROM (
    SELECT ${rolled} AS x FROM usage_daily WHERE user_id = u.id
    UNION ALL
    SELECT ${perTurn} FROM usage WHERE user_id = u.id AND created_at >= (SELECT rolled_until FROM usage_rollup WHERE id = 1)))`;
const USER_SELECT = `SELECT u.id, u.username, u.role, u.disabled, u.created_at AS createdAt,
  coalesce(b.balance, 0) AS balance, ${userUsage('charge', 'charge')} AS spent, ${userUsage('turns', '1')} AS turns,
  (SELECT max(h.closed_at) FROM holds h WHERE h.user_id = u.id AND h.closed_at IS NOT NULL) AS lastUsed
  FROM users u LEFT JOIN balances b ON b.user_id = u.id`;

export const adminSql: { readonly [K in keyof AdminQueries]: Text } = {
  ...adminShared,
  'admin.searchUsers': all(`${USER_SELECT} WHERE u.username_key LIKE @pattern ESCAPE '\\' ORDER BY u.id LIMIT @limit OFFSET @offset`),
  'admin.user': get(`${USER_SELECT} WHERE u.id = @userId`),
  'admin.auditPage': all(`SELECT a.id, a.created_at AS createdAt, actor.username AS actor, a.action, target.username AS target,
         a.target_user_id AS targetId, a.detail
       FROM admin_audit a LEFT JOIN users actor ON actor.id = a.actor_id LEFT JOIN users target ON target.id = a.target_user_id
       WHERE (@target IS NULL OR a.target_user_id = @target) ORDER BY a.id DESC LIMIT @limit OFFSET @offset`),
};
