// SQLite texts of the API key queries.
import { all, get, run, value, values, type Text } from '../../op';
import type { KeyQueries } from '../../queries/keys';

const LISTED = `k.id, k.name, k.prefix, k.last4, k.models, k.per_day AS perDay, k.total, k.rpm, k.tpm, k.expires_at AS expiresAt,
  k.created_at AS createdAt, k.last_used_at AS lastUsedAt, k.revoked_at AS revokedAt,
  (SELECT coalesce(sum(CASE WHEN h.state = 'held' THEN h.amount ELSE h.charge END), 0) FROM holds h WHERE h.api_key_id = k.id) AS spent`;

export const keysSql: { readonly [K in keyof KeyQueries]: Text } = {
  'keys.insert': value(`INSERT INTO api_keys (user_id, name, hash, prefix, last4, models, per_day, total, rpm, tpm, expires_at, form_id)
    VALUES (@userId, @name, @hash, @prefix, @last4, @models, @perDay, @total,
      @rpm, @tpm, @expiresAt, @formId)
    ON CONFLICT (user_id, form_id) DO NOTHING RETURNING id`),
  'keys.byHash': get(`SELECT k.id, k.user_id AS userId, k.name, k.models, k.per_day AS perDay, k.total, k.rpm, k.tpm,
    k.expires_at AS expiresAt, k.revoked_at AS revokedAt, CASE WHEN u.status = 'pending' THEN 1 ELSE u.disabled END AS userDisabled
    FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.hash = @hash`),
  'keys.ofUser': all(`SELECT ${LISTED} FROM api_keys k WHERE k.user_id = @userId ORDER BY k.revoked_at IS NOT NULL, k.id DESC`),
  'keys.revoke': run(`UPDATE api_keys SET revoked_at = @now
    WHERE id = @id AND (@userId IS NULL OR user_id = @userId) AND revoked_at IS NULL`),
  'keys.touch': run(`UPDATE api_keys SET last_used_at = @now
    WHERE id = @id AND (last_used_at IS NULL OR last_used_at < @staleBefore)`),
  'keys.tokensSince': value(`SELECT coalesce(sum(CASE WHEN state = 'held' THEN prompt_tokens + max_completion
      ELSE coalesce(used_prompt_tokens, 0) + coalesce(completion_tokens, 0) END), 0)
    FROM holds WHERE api_key_id = @keyId AND created_at >= @since`),
  'keys.tokenWindow': get(`SELECT coalesce(sum(CASE WHEN state = 'held' THEN prompt_tokens + max_completion
      ELSE coalesce(used_prompt_tokens, 0) + coalesce(completion_tokens, 0) END), 0) AS used, min(created_at) AS oldest
    FROM holds WHERE api_key_id = @keyId AND created_at >= @since`),
  'keys.unusable': all(`SELECT k.id AS keyId, k.user_id AS userId, u.disabled FROM api_keys k JOIN users u ON u.id = k.user_id
    WHERE k.id IN (SELECT value FROM json_each(@ids)) AND (k.revoked_at IS NOT NULL OR u.disabled = 1)`),
  'keys.disabledUsers': values(`SELECT id FROM users WHERE id IN (SELECT value FROM json_each(@ids)) AND disabled = 1`),
  'keys.spent': get(`SELECT
      (SELECT coalesce(sum(charge), 0) FROM holds WHERE api_key_id = @keyId AND closed_at >= @since)
        + (SELECT coalesce(sum(amount), 0) FROM holds WHERE api_key_id = @keyId AND state = 'held') AS today,
      (SELECT coalesce(sum(CASE WHEN state = 'held' THEN amount ELSE charge END), 0) FROM holds WHERE api_key_id = @keyId) AS total`),
};
