// PostgreSQL texts of the chat queries (translated from storage/sqlite/sql/chat.ts).
import { all, get, run, value, type Text } from '../../op';
import type { ChatQueries } from '../../queries/chat';
import { NOW } from './ledger';

const CONVERSATION = `id, user_id AS "userId", title, system_prompt AS "systemPrompt", model, temperature, max_tokens AS "maxTokens",
  updated_at AS "updatedAt"`;
const MESSAGE = `id, conversation_id AS "conversationId", role, content, status, error, model, prompt_tokens AS "promptTokens",
  completion_tokens AS "completionTokens", charge, source, dropped, hold_id AS "holdId", cut_short AS "cutShort", tokens,
  tokens_encoding AS "tokensEncoding", reasoning_tokens AS "reasoningTokens", created_at AS "createdAt"`;

export const chatSql: { readonly [K in keyof ChatQueries]: Text } = {
  'chat.list': all(`SELECT ${CONVERSATION} FROM conversations WHERE user_id = @userId ORDER BY updated_at DESC, id DESC LIMIT @limit`),
  // ILIKE: SQLite's LIKE ignores the case of ASCII letters.
  'chat.search': all(
    `SELECT ${CONVERSATION} FROM conversations c WHERE user_id = @userId AND (title ILIKE @p::text ESCAPE '\\'
         OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.content ILIKE @p::text ESCAPE '\\'))
       ORDER BY updated_at DESC, id DESC LIMIT @limit`,
  ),
  'chat.find': get(`SELECT ${CONVERSATION} FROM conversations WHERE id = @id AND user_id = @userId`),
  'chat.create': value(`INSERT INTO conversations (user_id, title, system_prompt, model, temperature, max_tokens)
    VALUES (@userId, @title, @systemPrompt, @model, @temperature, @maxTokens) RETURNING id`),
  'chat.saveSettings': run(`UPDATE conversations SET system_prompt = @systemPrompt, model = @model, temperature = @temperature,
    max_tokens = @maxTokens, updated_at = ${NOW} WHERE id = @id`),
  'chat.rename': run('UPDATE conversations SET title = @title WHERE id = @id AND user_id = @userId'),
  'chat.delete': run('DELETE FROM conversations WHERE id = @id'),
  'chat.touch': run(`UPDATE conversations SET updated_at = ${NOW} WHERE id = @id`),
  'chat.messagesOf': all(`SELECT ${MESSAGE} FROM messages WHERE conversation_id = @conversationId ORDER BY id`),
  'chat.message': get(`SELECT ${MESSAGE} FROM messages WHERE conversation_id = @conversationId AND id = @id`),
  'chat.messageByHold': get(`SELECT ${MESSAGE} FROM messages WHERE hold_id = @holdId AND role = 'assistant'`),
  'chat.lastMessageId': value('SELECT coalesce(max(id), 0) FROM messages WHERE conversation_id = @conversationId'),
  'chat.insertMessage': value(`INSERT INTO messages (conversation_id, role, content, status, model, hold_id, tokens, tokens_encoding)
    VALUES (@conversationId, @role, @content, @status, @model, @holdId, @tokens, @tokensEncoding) RETURNING id`),
  'chat.lockConversation': value('SELECT 1 FROM conversations WHERE id = @conversationId FOR UPDATE'),
  'chat.deleteMessage': run('DELETE FROM messages WHERE id = @id'),
  'chat.deleteMessages': run('DELETE FROM messages WHERE conversation_id = @conversationId'),
  'chat.setContent': run('UPDATE messages SET content = @content, tokens = @tokens, tokens_encoding = @tokensEncoding WHERE id = @id'),
  'chat.setTokens': run('UPDATE messages SET tokens = @tokens, tokens_encoding = @tokensEncoding WHERE id = @id'),
  'chat.finish': run(`UPDATE messages SET content = @content, status = @status, error = @error, prompt_tokens = @promptTokens,
         completion_tokens = @completionTokens, charge = @charge, source = @source, dropped = @dropped, hold_id = @holdId,
         cut_short = @cutShort, tokens = @tokens, tokens_encoding = @tokensEncoding, reasoning_tokens = @reasoningTokens
       WHERE id = @id`),
  'chat.recover': run(`UPDATE messages SET status = 'stopped', charge = h.charge, prompt_tokens = h.used_prompt_tokens, completion_tokens = h.completion_tokens,
         source = h.source
       FROM holds h WHERE messages.hold_id = h.id AND messages.status = 'streaming' AND h.state <> 'held'`),
};
