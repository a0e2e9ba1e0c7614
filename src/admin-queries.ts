// Read-only queries for the admin pages: the user list with balances and usage, one user, the audit log.
import type SqliteDatabase from 'better-sqlite3';
import { pageOf, pageWindow } from './db';
import type { AuditAction } from './admin';

type Raw = SqliteDatabase.Database;

export interface AdminUserRow {
  id: number;
  username: string;
  role: 'user' | 'admin';
  disabled: number;
  createdAt: string;
  balance: number;
  spent: number;
  turns: number;
  lastUsed: string | null;
}

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

/** Users whose name contains `query` (case-insensitive, after NFKC), by id; one page. */
export function searchUsers(raw: Raw, query: string, page: number, perPage = 50) {
  const key = query.normalize('NFKC').trim().toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`);
  const rows = raw
    .prepare(`${USER_SELECT} WHERE u.username_key LIKE @pattern ESCAPE '\\' ORDER BY u.id LIMIT @limit OFFSET @offset`)
    .all({ pattern: `%${key}%`, ...pageWindow(page, perPage) }) as AdminUserRow[];
  return pageOf(rows, perPage);
}

export function adminUser(raw: Raw, userId: number): AdminUserRow | undefined {
  return raw.prepare(`${USER_SELECT} WHERE u.id = ?`).get(userId) as AdminUserRow | undefined;
}

export interface AuditRow {
  id: number;
  createdAt: string;
  actor: string;
  action: AuditAction;
  target: string | null;
  targetId: number | null;
  detail: string;
}

/** The audit log newest first, optionally about one user. */
export function auditPage(raw: Raw, page: number, targetUserId?: number, perPage = 50) {
  const rows = raw
    .prepare(
      `SELECT a.id, a.created_at AS createdAt, actor.username AS actor, a.action, target.username AS target,
         a.target_user_id AS targetId, a.detail
       FROM admin_audit a JOIN users actor ON actor.id = a.actor_id LEFT JOIN users target ON target.id = a.target_user_id
       WHERE (@target IS NULL OR a.target_user_id = @target) ORDER BY a.id DESC LIMIT @limit OFFSET @offset`,
    )
    .all({ target: targetUserId ?? null, ...pageWindow(page, perPage) }) as AuditRow[];
  return pageOf(rows, perPage);
}
