// The texts of the attachment queries: the same on SQLite and PostgreSQL (BLOB and BYTEA both take
// and give a Buffer), so both dialects' catalogues take this one.
import { all, get, run, value, type Text } from '../op';
import type { AttachmentQueries } from '../queries/attachments';

const INFO = 'a.id, a.message_id AS "messageId", a.kind, a.name, a.mime, a.size, a.text, a.pages';

export const attachmentsSql: { readonly [K in keyof AttachmentQueries]: Text } = {
  'attachments.insert': value(`INSERT INTO attachments (user_id, kind, name, mime, size, data, text, pages)
    VALUES (@userId, @kind, @name, @mime, @size, @data, @text, @pages) RETURNING id`),
  'attachments.pending': get(`SELECT ${INFO} FROM attachments a WHERE a.id = @id AND a.user_id = @userId AND a.message_id IS NULL`),
  'attachments.bind': run('UPDATE attachments SET message_id = @messageId WHERE id = @id AND user_id = @userId AND message_id IS NULL'),
  'attachments.ofConversation': all(`SELECT ${INFO} FROM attachments a JOIN messages m ON m.id = a.message_id
    WHERE m.conversation_id = @conversationId ORDER BY a.id`),
  'attachments.image': get(`SELECT a.mime, a.data FROM attachments a WHERE a.id = @id AND a.user_id = @userId AND a.kind = 'image'`),
  'attachments.copy': run(`INSERT INTO attachments (user_id, message_id, kind, name, mime, size, data, text, pages)
    SELECT user_id, @to, kind, name, mime, size, data, text, pages FROM attachments WHERE message_id = @from ORDER BY id`),
  'attachments.discard': run('DELETE FROM attachments WHERE id = @id AND user_id = @userId AND message_id IS NULL'),
  'attachments.pendingCount': value('SELECT count(*) FROM attachments WHERE user_id = @userId AND message_id IS NULL'),
  'attachments.prune': run('DELETE FROM attachments WHERE user_id = @userId AND message_id IS NULL AND created_at < @before'),
};
