// Texts of the invite queries: the same on SQLite and PostgreSQL (quoted aliases both keep).
import { all, get, run, value, values, type Text } from '../op';
import type { InviteQueries } from '../queries/invites';

const COLUMNS = `i.id, i.prefix, i.note, i.max_uses AS "maxUses", i.uses, i.expires_at AS "expiresAt", i.revoked_at AS "revokedAt",
  i.created_at AS "createdAt", u.username AS "createdBy"`;
const NEWEST = 'SELECT id FROM invites ORDER BY id DESC LIMIT @limit';

export const invitesSql: { readonly [K in keyof InviteQueries]: Text } = {
  'invites.insert': value(`INSERT INTO invites (token_hash, prefix, note, max_uses, expires_at, created_by)
    VALUES (@tokenHash, @prefix, @note, @maxUses, @expiresAt, @createdBy) RETURNING id`),
  'invites.addGroup': run('INSERT INTO invite_groups (invite_id, group_id) VALUES (@inviteId, @groupId) ON CONFLICT DO NOTHING'),
  'invites.byHash': get(`SELECT ${COLUMNS} FROM invites i LEFT JOIN users u ON u.id = i.created_by WHERE i.token_hash = @hash`),
  'invites.byId': get(`SELECT ${COLUMNS} FROM invites i LEFT JOIN users u ON u.id = i.created_by WHERE i.id = @id`),
  // One conditional UPDATE: of two registrations on the last use, the second finds uses = max_uses.
  'invites.take': value(`UPDATE invites SET uses = uses + 1
    WHERE id = @id AND revoked_at IS NULL AND expires_at > @now AND uses < max_uses RETURNING id`),
  'invites.recordUse': run('INSERT INTO invite_uses (invite_id, user_id) VALUES (@inviteId, @userId)'),
  'invites.groupsOf': values('SELECT group_id FROM invite_groups WHERE invite_id = @inviteId ORDER BY group_id'),
  'invites.list': all(`SELECT ${COLUMNS} FROM invites i LEFT JOIN users u ON u.id = i.created_by ORDER BY i.id DESC LIMIT @limit`),
  'invites.listGroups': all(`SELECT ig.invite_id AS "inviteId", g.id AS "groupId", g.name FROM invite_groups ig JOIN groups g ON g.id = ig.group_id
    WHERE ig.invite_id IN (${NEWEST}) ORDER BY g.name`),
  'invites.listUses': all(`SELECT iu.invite_id AS "inviteId", iu.user_id AS "userId", u.username, iu.used_at AS "usedAt"
    FROM invite_uses iu JOIN users u ON u.id = iu.user_id WHERE iu.invite_id IN (${NEWEST}) ORDER BY iu.used_at`),
  'invites.revoke': run('UPDATE invites SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL'),
  'invites.setPending': run(`UPDATE users SET status = 'pending' WHERE id = @userId`),
  'invites.approve': run(`UPDATE users SET status = 'active' WHERE id = @userId AND status = 'pending'`),
  'invites.pending': all(`SELECT id, username, created_at AS "createdAt" FROM users WHERE status = 'pending' AND disabled = 0 ORDER BY created_at, id`),
};
