// Conversations and messages: the only writer of their tables. Every lookup takes the user id,
// so another user's conversation is simply not found (a 404 for the routes).
import type SqliteDatabase from 'better-sqlite3';

type Raw = SqliteDatabase.Database;

export const TITLE_MAX = 80;
export const MESSAGE_MAX = 100_000;
export const SYSTEM_MAX = 20_000;

export interface Conversation {
  id: number;
  userId: number;
  title: string;
  systemPrompt: string;
  model: string | null;
  temperature: number | null;
  maxTokens: number | null;
  updatedAt: string;
}

export type MessageStatus = 'streaming' | 'done' | 'stopped' | 'error';

export interface Message {
  id: number;
  conversationId: number;
  role: 'user' | 'assistant';
  content: string;
  status: MessageStatus;
  error: string | null;
  model: string | null;
  promptTokens: number | null;
  completionTokens: number | null;
  charge: number | null;
  source: 'reported' | 'estimated' | null;
  dropped: number;
  holdId: number | null;
  createdAt: string;
}

export interface Settings {
  systemPrompt: string;
  model: string;
  temperature: number | null;
  maxTokens: number | null;
}

const CONVERSATION = `id, user_id AS userId, title, system_prompt AS systemPrompt, model, temperature, max_tokens AS maxTokens,
  updated_at AS updatedAt`;
const MESSAGE = `id, conversation_id AS conversationId, role, content, status, error, model, prompt_tokens AS promptTokens,
  completion_tokens AS completionTokens, charge, source, dropped, hold_id AS holdId, created_at AS createdAt`;
const NOW = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;

/** A title from the first message: its first line, whitespace folded, cut at a word near TITLE_MAX. */
export function titleFrom(text: string): string {
  const line = text.trim().split('\n')[0]!.replace(/\s+/g, ' ');
  if (line.length <= TITLE_MAX) return line;
  const cut = line.slice(0, TITLE_MAX);
  const space = cut.lastIndexOf(' ');
  return `${space > TITLE_MAX / 2 ? cut.slice(0, space) : cut}…`;
}

/** LIKE pattern for a search term, with its wildcards taken literally. */
const likePattern = (term: string) => `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export function listConversations(raw: Raw, userId: number, search = '', limit = 100): Conversation[] {
  const term = search.trim();
  if (!term) {
    return raw.prepare(`SELECT ${CONVERSATION} FROM conversations WHERE user_id = ? ORDER BY updated_at DESC, id DESC LIMIT ?`).all(userId, limit) as Conversation[];
  }
  return raw
    .prepare(
      `SELECT ${CONVERSATION} FROM conversations c WHERE user_id = @userId AND (title LIKE @p ESCAPE '\\'
         OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.content LIKE @p ESCAPE '\\'))
       ORDER BY updated_at DESC, id DESC LIMIT @limit`,
    )
    .all({ userId, p: likePattern(term), limit }) as Conversation[];
}

export function findConversation(raw: Raw, userId: number, id: number): Conversation | undefined {
  return raw.prepare(`SELECT ${CONVERSATION} FROM conversations WHERE id = ? AND user_id = ?`).get(id, userId) as Conversation | undefined;
}

export function createConversation(raw: Raw, userId: number, title: string, settings: Settings): Conversation {
  const id = raw
    .prepare(`INSERT INTO conversations (user_id, title, system_prompt, model, temperature, max_tokens) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`)
    .pluck()
    .get(userId, title, settings.systemPrompt, settings.model, settings.temperature, settings.maxTokens) as number;
  return findConversation(raw, userId, id)!;
}

export function saveSettings(raw: Raw, conversationId: number, settings: Settings): void {
  raw
    .prepare(`UPDATE conversations SET system_prompt = ?, model = ?, temperature = ?, max_tokens = ?, updated_at = ${NOW} WHERE id = ?`)
    .run(settings.systemPrompt, settings.model, settings.temperature, settings.maxTokens, conversationId);
}

export function renameConversation(raw: Raw, userId: number, id: number, title: string): boolean {
  return raw.prepare('UPDATE conversations SET title = ? WHERE id = ? AND user_id = ?').run(title, id, userId).changes === 1;
}

export function deleteConversation(raw: Raw, userId: number, id: number): boolean {
  return raw.transaction(() => {
    if (!findConversation(raw, userId, id)) return false;
    raw.prepare('DELETE FROM messages WHERE conversation_id = ?').run(id);
    return raw.prepare('DELETE FROM conversations WHERE id = ?').run(id).changes === 1;
  })();
}

export function messagesOf(raw: Raw, conversationId: number): Message[] {
  return raw.prepare(`SELECT ${MESSAGE} FROM messages WHERE conversation_id = ? ORDER BY id`).all(conversationId) as Message[];
}

export function findMessage(raw: Raw, conversationId: number, id: number): Message | undefined {
  return raw.prepare(`SELECT ${MESSAGE} FROM messages WHERE conversation_id = ? AND id = ?`).get(conversationId, id) as Message | undefined;
}

export function findMessageByHold(raw: Raw, holdId: number): Message | undefined {
  return raw.prepare(`SELECT ${MESSAGE} FROM messages WHERE hold_id = ? AND role = 'assistant'`).get(holdId) as Message | undefined;
}

/**
 * Adds the user's message (none for Retry, which answers the last one again) and an empty
 * assistant message for the answer, in one transaction.
 */
export function addTurn(raw: Raw, conversationId: number, text: string | null, model: string): { user?: Message; assistant: Message } {
  return raw.transaction(() => {
    const insert = raw.prepare(`INSERT INTO messages (conversation_id, role, content, status, model) VALUES (?, ?, ?, ?, ?) RETURNING id`).pluck();
    const userId = text === null ? undefined : (insert.get(conversationId, 'user', text, 'done', null) as number);
    const assistantId = insert.get(conversationId, 'assistant', '', 'streaming', model) as number;
    raw.prepare(`UPDATE conversations SET updated_at = ${NOW} WHERE id = ?`).run(conversationId);
    return {
      user: userId === undefined ? undefined : findMessage(raw, conversationId, userId),
      assistant: findMessage(raw, conversationId, assistantId)!,
    };
  })();
}

export interface Outcome {
  content: string;
  status: MessageStatus;
  error?: string | null;
  promptTokens?: number | null;
  completionTokens?: number | null;
  charge?: number | null;
  source?: 'reported' | 'estimated' | null;
  dropped?: number;
  holdId?: number | null;
}

export function finishMessage(raw: Raw, messageId: number, o: Outcome): void {
  raw
    .prepare(
      `UPDATE messages SET content = @content, status = @status, error = @error, prompt_tokens = @promptTokens,
         completion_tokens = @completionTokens, charge = @charge, source = @source, dropped = @dropped, hold_id = @holdId
       WHERE id = @id`,
    )
    .run({
      id: messageId, content: o.content, status: o.status, error: o.error ?? null, promptTokens: o.promptTokens ?? null,
      completionTokens: o.completionTokens ?? null, charge: o.charge ?? null, source: o.source ?? null, dropped: o.dropped ?? 0, holdId: o.holdId ?? null,
    });
}

/** Links the answer to its hold as soon as there is one, so a crash leaves them joined. */
export function linkHold(raw: Raw, messageId: number, holdId: number): void {
  raw.prepare('UPDATE messages SET hold_id = ? WHERE id = ?').run(holdId, messageId);
}

/**
 * Removes the last answer (Retry), or the last user message and its answer (Undo), and returns
 * the last user message left. Nothing is removed while an answer is still streaming.
 */
export function removeLast(raw: Raw, conversationId: number, what: 'answer' | 'turn'): Message | undefined {
  return raw.transaction(() => {
    const list = messagesOf(raw, conversationId);
    if (list.some((m) => m.status === 'streaming')) return undefined;
    const del = raw.prepare('DELETE FROM messages WHERE id = ?');
    if (list.at(-1)?.role === 'assistant') del.run(list.pop()!.id);
    if (what === 'turn' && list.at(-1)?.role === 'user') del.run(list.pop()!.id);
    return [...list].reverse().find((m) => m.role === 'user');
  })();
}

/** Replaces the text of the last user message (edit and re-send); its old answer is removed first. */
export function editLastUserMessage(raw: Raw, conversationId: number, text: string): Message | undefined {
  return raw.transaction(() => {
    const lastUser = removeLast(raw, conversationId, 'answer');
    if (!lastUser) return undefined;
    raw.prepare('UPDATE messages SET content = ? WHERE id = ?').run(text, lastUser.id);
    return { ...lastUser, content: text };
  })();
}

export function clearMessages(raw: Raw, conversationId: number): void {
  raw.prepare(`DELETE FROM messages WHERE conversation_id = ? AND status <> 'streaming'`).run(conversationId);
}

/** Marks answers left streaming by a crashed process as stopped (their holds are recovered by the ledger). */
export function recoverMessages(raw: Raw, olderThanMs: number): number {
  const cutoff = new Date(Date.now() - olderThanMs).toISOString();
  return raw.prepare(`UPDATE messages SET status = 'stopped' WHERE status = 'streaming' AND created_at <= ?`).run(cutoff).changes;
}
