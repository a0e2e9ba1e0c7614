// The admin queries whose text is the same on SQLite and PostgreSQL (plain SQL both understand);
// each dialect's file adds the ones that differ.
import { get, run, value, type Text } from '../op';
import type { AdminQueries } from '../queries/admin';

export const adminShared = {
  'admin.isEnabledAdmin': value(`SELECT 1 FROM users WHERE id = @actorId AND role = 'admin' AND disabled = 0`),
  'admin.userState': get('SELECT role, disabled, session_epoch FROM users WHERE id = @userId'),
  'admin.otherAdmins': value(`SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id <> @userId`),
  'admin.audit': run('INSERT INTO admin_audit (actor_id, action, target_user_id, detail) VALUES (@actorId, @action, @targetUserId, @detail)'),
  'admin.disable': run('UPDATE users SET disabled = 1, session_epoch = session_epoch + 1 WHERE id = @userId'),
  'admin.enable': run('UPDATE users SET disabled = 0 WHERE id = @userId'),
  'admin.setRole': run('UPDATE users SET role = @role WHERE id = @userId'),
  'admin.setPassword': run('UPDATE users SET password_hash = @hash, session_epoch = session_epoch + 1 WHERE id = @userId'),
  'admin.newBatch': value(`INSERT INTO code_batches (tokens, count, expires_at, note, created_by) VALUES (@tokens, @count, @expiresAt, @note, @createdBy)
    RETURNING id`),
  'admin.totals': get('SELECT (SELECT count(*) FROM users) AS users, (SELECT coalesce(sum(balance), 0) FROM balances) AS balances'),
} satisfies Partial<Record<keyof AdminQueries, Text>>;
