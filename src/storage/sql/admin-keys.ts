// Texts of the admin API key queries: the same on SQLite and PostgreSQL (quoted aliases both keep)
// but for naming a transaction's own audit rows (adminKeys.tagAudit).
import { all, get, run, value, type Text } from '../op';
import type { AdminKeyQueries } from '../queries/admin-keys';

const KEY = `k.id, k.name, k.scope, k.created_by AS "createdBy", k.expires_at AS "expiresAt", k.revoked_at AS "revokedAt"`;

export function adminKeysTexts(dialect: 'sqlite' | 'postgres'): { readonly [K in keyof AdminKeyQueries]: Text } {
  return {
    'adminKeys.insert': value(`INSERT INTO admin_api_keys (created_by, name, hash, prefix, last4, scope, expires_at)
      VALUES (@createdBy, @name, @hash, @prefix, @last4, @scope, @expiresAt) RETURNING id`),
    'adminKeys.byHash': get(`SELECT ${KEY} FROM admin_api_keys k WHERE k.hash = @hash`),
    'adminKeys.list': all(`SELECT ${KEY}, k.prefix, k.last4, u.username AS creator, k.created_at AS "createdAt",
        k.last_used_at AS "lastUsedAt", k.uses
      FROM admin_api_keys k JOIN users u ON u.id = k.created_by
      ORDER BY CASE WHEN k.revoked_at IS NULL THEN 0 ELSE 1 END, k.id DESC`),
    'adminKeys.revoke': run('UPDATE admin_api_keys SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL'),
    'adminKeys.touch': run('UPDATE admin_api_keys SET uses = uses + 1, last_used_at = @now WHERE id = @id'),
    'adminKeys.lastAudit': value('SELECT coalesce(max(id), 0) FROM admin_audit'),
    // SQLite's write transaction holds the only write lock, so every row after @after is this
    // transaction's; PostgreSQL may commit others' rows meanwhile, so it also asks for its own xid.
    'adminKeys.tagAudit': run(dialect === 'sqlite'
      ? 'UPDATE admin_audit SET api_key_id = @keyId WHERE id > @after'
      : 'UPDATE admin_audit SET api_key_id = @keyId WHERE id > @after AND xmin = pg_current_xact_id()::xid'),
    'adminKeys.auditBefore': all(`SELECT a.id, a.created_at AS "createdAt", actor.username AS actor, a.action,
        target.username AS target, a.target_user_id AS "targetId", a.detail, a.api_key_id AS "apiKeyId"
      FROM admin_audit a LEFT JOIN users actor ON actor.id = a.actor_id LEFT JOIN users target ON target.id = a.target_user_id
      WHERE (CAST(@before AS BIGINT) IS NULL OR a.id < CAST(@before AS BIGINT))
        AND (CAST(@target AS BIGINT) IS NULL OR a.target_user_id = CAST(@target AS BIGINT))
      ORDER BY a.id DESC LIMIT @limit`),
  };
}
