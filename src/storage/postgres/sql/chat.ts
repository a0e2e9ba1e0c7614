// PostgreSQL texts of the chat queries (translated from storage/sqlite/sql/chat.ts).
import { all, get, run, value, type Text } from '../../op';
import type { ChatQueries } from '../../queries/chat';
import { chatShared } from '../../sql/chat';
import { NOW } from './ledger';

const CONVERSATION = `id, user_id AS "userId", title, system_prompt AS "systemPrompt", model, temperature, max_tokens AS "maxTokens",
  updated_at AS "updatedAt"`;
/** Whether an answer is being written in the conversation (the sidebar marks it). */
const ANSWERING = `CASE WHEN EXISTS (SELECT 1 FROM messages a WHERE a.conversation_id = conversations.id AND a.status = 'streaming') THEN 1 ELSE 0 END AS answering`;
const MESSAGE = `id, conversation_id AS "conversationId", role, content, status, error, model, prompt_tokens AS "promptTokens",
  completion_tokens AS "completionTokens", charge, source, dropped, hold_id AS "holdId", cut_short AS "cutShort", tokens,
  tokens_encoding AS "tokensEncoding", reasoning_tokens AS "reasoningTokens", cached_tokens AS "cachedTokens",
  provider, created_at AS "createdAt", parent_id AS "parentId"`;

export const chatSql: { readonly [K in keyof ChatQueries]: Text } = {
  ...chatShared,
  'chat.list': all(`SELECT ${CONVERSATION}, ${ANSWERING} FROM conversations WHERE user_id = @userId ORDER BY updated_at DESC, id DESC LIMIT @limit`),
  // ILIKE: SQLite's LIKE ignores the case of ASCII letters.
  'chat.search': all(
    `SELECT ${CONVERSATION}, ${ANSWERING} FROM conversations WHERE user_id = @userId AND (title ILIKE @p::text ESCAPE '\\'
         OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id AND m.content ILIKE @p::text ESCAPE '\\'))
       ORDER BY updated_at DESC, id DESC LIMIT @limit`,
  ),
  'chat.find': get(`SELECT ${CONVERSATION} FROM conversations WHERE id = @id AND user_id = @userId`),
  'chat.saveSettings': run(`UPDATE conversations SET system_prompt = @systemPrompt, model = @model, temperature = @temperature,
    max_tokens = @maxTokens, updated_at = ${NOW} WHERE id = @id`),
  'chat.touch': run(`UPDATE conversations SET updated_at = ${NOW} WHERE id = @id`),
  'chat.messagesOf': all(`SELECT ${MESSAGE} FROM messages WHERE conversation_id = @conversationId ORDER BY id`),
  'chat.message': get(`SELECT ${MESSAGE} FROM messages WHERE conversation_id = @conversationId AND id = @id`),
  'chat.messageByHold': get(`SELECT ${MESSAGE} FROM messages WHERE hold_id = @holdId AND role = 'assistant'`),
  'chat.lockConversation': value('SELECT 1 FROM conversations WHERE id = @conversationId FOR UPDATE'),
};
