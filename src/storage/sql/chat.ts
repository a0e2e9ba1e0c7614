// The chat queries whose text is the same on SQLite and PostgreSQL (plain SQL both understand);
// each dialect's file adds the ones that differ.
import { all, run, value, type Text } from '../op';
import type { ChatQueries } from '../queries/chat';

export const chatShared = {
  'chat.create': value(`INSERT INTO conversations (user_id, title, system_prompt, model, temperature, max_tokens)
    VALUES (@userId, @title, @systemPrompt, @model, @temperature, @maxTokens) RETURNING id`),
  'chat.rename': run('UPDATE conversations SET title = @title WHERE id = @id AND user_id = @userId'),
  'chat.delete': run('DELETE FROM conversations WHERE id = @id'),
  // 0 also when the leaf is gone (messages removed some other way): a turn read before sees the change.
  'chat.leaf': value(`SELECT coalesce(max(m.id), 0) FROM conversations c JOIN messages m ON m.id = c.leaf_id AND m.conversation_id = c.id
    WHERE c.id = @conversationId`),
  'chat.setLeaf': run('UPDATE conversations SET leaf_id = @leafId WHERE id = @conversationId'),
  'chat.outline': all('SELECT id, parent_id AS "parentId", role, status FROM messages WHERE conversation_id = @conversationId ORDER BY id'),
  'chat.insertMessage': value(`INSERT INTO messages (conversation_id, parent_id, role, content, status, model, hold_id, tokens, tokens_encoding)
    VALUES (@conversationId, @parentId, @role, @content, @status, @model, @holdId, @tokens, @tokensEncoding) RETURNING id`),
  'chat.deleteMessage': run('DELETE FROM messages WHERE id = @id'),
  'chat.deleteMessages': run('DELETE FROM messages WHERE conversation_id = @conversationId'),
  'chat.streamed': run("UPDATE messages SET content = @content WHERE id = @id AND status = 'streaming'"),
  'chat.setTokens': run('UPDATE messages SET tokens = @tokens, tokens_encoding = @tokensEncoding WHERE id = @id'),
  'chat.finish': run(`UPDATE messages SET content = @content, status = @status, error = @error, prompt_tokens = @promptTokens,
         completion_tokens = @completionTokens, charge = @charge, source = @source, dropped = @dropped, hold_id = @holdId,
         cut_short = @cutShort, tokens = @tokens, tokens_encoding = @tokensEncoding, reasoning_tokens = @reasoningTokens,
         cached_tokens = @cachedTokens, provider = @provider
       WHERE id = @id`),
  'chat.recover': run(`UPDATE messages SET status = 'stopped', charge = h.charge, prompt_tokens = h.used_prompt_tokens, completion_tokens = h.completion_tokens,
         source = h.source
       FROM holds h WHERE messages.hold_id = h.id AND messages.status = 'streaming' AND h.state <> 'held'`),
  'chat.streamingHolds': all(`SELECT h.id AS "holdId", h.owner FROM messages m JOIN holds h ON h.id = m.hold_id
    WHERE m.conversation_id = @conversationId AND m.status = 'streaming' AND h.state = 'held'`),
} satisfies Partial<Record<keyof ChatQueries, Text>>;
