// Texts of the share and export queries: the same on SQLite and PostgreSQL (quoted aliases both keep)
// but for locking a user's row (shares.lockUser).
import { all, get, run, value, type Text } from '../op';
import type { ShareQueries } from '../queries/shares';

const SHARE = `s.id, s.token, s.conversation_id AS "conversationId", s.title, s.display_name AS "displayName",
  s.created_at AS "createdAt", s.revoked_at AS "revokedAt"`;
const CONVERSATION = `id, user_id AS "userId", title, system_prompt AS "systemPrompt", model, temperature, max_tokens AS "maxTokens",
  updated_at AS "updatedAt"`;

export const sharesTexts = (dialect: 'sqlite' | 'postgres'): { readonly [K in keyof ShareQueries]: Text } => ({
  'shares.lockUser': value(dialect === 'postgres' ? 'SELECT 1 FROM users WHERE id = @userId FOR UPDATE' : 'SELECT 1'),
  'shares.insert': value(`INSERT INTO shares (token, user_id, conversation_id, title, display_name, snapshot)
    VALUES (@token, @userId, @conversationId, @title, @displayName, @snapshot) RETURNING id`),
  'shares.countLive': value('SELECT count(*) FROM shares WHERE user_id = @userId AND revoked_at IS NULL'),
  'shares.list': all(`SELECT ${SHARE} FROM shares s WHERE s.user_id = @userId ORDER BY s.id DESC LIMIT @limit`),
  'shares.revoke': run('UPDATE shares SET revoked_at = @now WHERE id = @id AND user_id = @userId AND revoked_at IS NULL'),
  // The conversation is joined although deleting it deletes its shares: one condition more costs nothing.
  'shares.byToken': get(`SELECT s.title, s.display_name AS "displayName", s.snapshot, s.created_at AS "createdAt"
    FROM shares s JOIN users u ON u.id = s.user_id JOIN conversations c ON c.id = s.conversation_id
    WHERE s.token = @token AND s.revoked_at IS NULL AND u.disabled = 0`),
  'shares.files': all(`SELECT a.id, a.message_id AS "messageId", a.kind, a.name, a.size, a.pages, a.text
    FROM attachments a JOIN messages m ON m.id = a.message_id WHERE m.conversation_id = @conversationId ORDER BY a.id`),
  'shares.images': all(`SELECT a.id, a.message_id AS "messageId" FROM shares s JOIN messages m ON m.conversation_id = s.conversation_id
    JOIN attachments a ON a.message_id = m.id AND a.user_id = s.user_id WHERE s.token = @token AND a.kind = 'image'`),
  'shares.image': get(`SELECT a.mime, a.data FROM shares s JOIN users u ON u.id = s.user_id
    JOIN messages m ON m.conversation_id = s.conversation_id AND m.id = @messageId
    JOIN attachments a ON a.message_id = m.id AND a.user_id = s.user_id
    WHERE s.token = @token AND s.revoked_at IS NULL AND u.disabled = 0 AND a.id = @id AND a.kind = 'image'`),
  'exports.conversations': all(`SELECT ${CONVERSATION} FROM conversations WHERE user_id = @userId AND id > @after ORDER BY id LIMIT @limit`),
});
