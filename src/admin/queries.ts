// Read-only queries for the admin pages: the user list with balances and usage, one user, the audit log.
// All are read operations: run them with `store.read(searchUsers, ...)`.
import { pageOf, pageWindow, query as named, type Op } from '../storage/op';
import type { AdminUserRow, AuditRow } from '../storage/queries/admin';

export type { AdminUserRow, AuditRow } from '../storage/queries/admin';

/** Users whose name contains `query` (case-insensitive, after NFKC), by id; one page. */
export function* searchUsers(query: string, page: number, perPage = 50): Op<{ rows: AdminUserRow[]; hasMore: boolean }> {
  const key = query.normalize('NFKC').trim().toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`);
  const rows = yield* named('admin.searchUsers', { pattern: `%${key}%`, ...pageWindow(page, perPage) });
  return pageOf(rows, perPage);
}

export function* adminUser(userId: number): Op<AdminUserRow | undefined> {
  return yield* named('admin.user', { userId });
}

/** How many users there are and the sum of all balances (the system usage page). */
export function* systemTotals(): Op<{ users: number; balances: number }> {
  return yield* named('admin.totals', {});
}

/** The audit log newest first, optionally about one user. */
export function* auditPage(page: number, targetUserId?: number, perPage = 50): Op<{ rows: AuditRow[]; hasMore: boolean }> {
  const rows = yield* named('admin.auditPage', { target: targetUserId ?? null, ...pageWindow(page, perPage) });
  return pageOf(rows, perPage);
}
