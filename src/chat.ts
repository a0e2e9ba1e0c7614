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
  /** The completion tokens the turn could pay for, when the answer ended there and fewer were asked for. */
  cutShort: number | null;
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
  completion_tokens AS completionTokens, charge, source, dropped, hold_id AS holdId, cut_short AS cutShort, created_at AS createdAt`;
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

export type TurnMode = 'send' | 'retry' | 'edit';

/**
 * The conversation as the model sees it for a turn, read only: for Retry without the last answer,
 * for Edit with the last question's new text; undefined when there is nothing to answer again.
 */
export function historyFor(raw: Raw, conversationId: number, mode: TurnMode, text: string): Array<{ role: 'user' | 'assistant'; content: string }> | undefined {
  const list = messagesOf(raw, conversationId).filter((m) => m.status !== 'streaming');
  if (mode !== 'send' && list.at(-1)?.role === 'assistant') list.pop();
  if (mode !== 'send' && list.at(-1)?.role !== 'user') return undefined;
  const history = list
    .filter((m) => m.role === 'user' || m.content !== '')
    .map((m) => ({ role: m.role, content: m.content }));
  if (mode === 'send') history.push({ role: 'user', content: text });
  if (mode === 'edit') history[history.length - 1] = { role: 'user', content: text };
  return history;
}

/** The id of the conversation's last message (0 for none): what a turn's history was read at. */
export function lastMessageId(raw: Raw, conversationId: number): number {
  return raw.prepare('SELECT coalesce(max(id), 0) FROM messages WHERE conversation_id = ?').pluck().get(conversationId) as number;
}

/**
 * Stores a turn once its hold is taken, in one transaction: the user's message (Send), or the
 * last answer removed (Retry) and the last question rewritten (Edit); then an empty answer to
 * stream into. Undefined, changing nothing, when the conversation is not as the turn's history
 * read it (`basis`, from lastMessageId: an Undo or Clear while the turn waited for the model) or
 * another answer in it is still streaming.
 */
export function addTurn(raw: Raw, conversationId: number, mode: TurnMode, text: string, model: string, holdId: number | null, basis: number) {
  return raw.transaction(() => {
    const list = messagesOf(raw, conversationId);
    if ((list.at(-1)?.id ?? 0) !== basis || list.some((m) => m.status === 'streaming')) return undefined;
    const insert = raw.prepare(`INSERT INTO messages (conversation_id, role, content, status, model, hold_id) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`).pluck();
    const removed: number[] = [];
    if (mode !== 'send' && list.at(-1)?.role === 'assistant') {
      removed.push(list.pop()!.id);
      raw.prepare('DELETE FROM messages WHERE id = ?').run(removed[0]);
    }
    let userId: number | undefined;
    if (mode === 'send') userId = insert.get(conversationId, 'user', text, 'done', null, null) as number;
    if (mode === 'edit') raw.prepare('UPDATE messages SET content = ? WHERE id = ?').run(text, (userId = list.at(-1)!.id));
    const assistantId = insert.get(conversationId, 'assistant', '', 'streaming', model, holdId) as number;
    raw.prepare(`UPDATE conversations SET updated_at = ${NOW} WHERE id = ?`).run(conversationId);
    return {
      user: userId === undefined ? undefined : findMessage(raw, conversationId, userId),
      assistant: findMessage(raw, conversationId, assistantId)!,
      removed,
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
  cutShort?: number | null;
}

export function finishMessage(raw: Raw, messageId: number, o: Outcome): void {
  raw
    .prepare(
      `UPDATE messages SET content = @content, status = @status, error = @error, prompt_tokens = @promptTokens,
         completion_tokens = @completionTokens, charge = @charge, source = @source, dropped = @dropped, hold_id = @holdId,
         cut_short = @cutShort
       WHERE id = @id`,
    )
    .run({
      id: messageId, content: o.content, status: o.status, error: o.error ?? null, promptTokens: o.promptTokens ?? null,
      completionTokens: o.completionTokens ?? null, charge: o.charge ?? null, source: o.source ?? null, dropped: o.dropped ?? 0, holdId: o.holdId ?? null,
      cutShort: o.cutShort ?? null,
    });
}

/**
 * Removes the last question and its answer, and gives the question back (as Gradio puts it back in
 * the textbox); false, changing nothing, while an answer is streaming.
 */
export function undoLastTurn(raw: Raw, conversationId: number): { draft?: string } | false {
  return raw.transaction(() => {
    const list = messagesOf(raw, conversationId);
    if (list.some((m) => m.status === 'streaming')) return false;
    const del = raw.prepare('DELETE FROM messages WHERE id = ?');
    if (list.at(-1)?.role === 'assistant') del.run(list.pop()!.id);
    if (list.at(-1)?.role !== 'user') return {};
    const question = list.pop()!;
    del.run(question.id);
    return { draft: question.content };
  })();
}

/** Removes every message; false, changing nothing, while an answer is streaming. */
export function clearMessages(raw: Raw, conversationId: number): { draft?: string } | false {
  return raw.transaction(() => {
    if (messagesOf(raw, conversationId).some((m) => m.status === 'streaming')) return false;
    raw.prepare('DELETE FROM messages WHERE conversation_id = ?').run(conversationId);
    return {};
  })();
}

/**
 * Answers left streaming by a crashed process, once the ledger has resolved their holds: marked
 * stopped, with what the hold was charged.
 */
export function recoverMessages(raw: Raw): number {
  return raw
    .prepare(
      `UPDATE messages SET status = 'stopped', charge = h.charge, prompt_tokens = h.used_prompt_tokens, completion_tokens = h.completion_tokens,
         source = h.source
       FROM holds h WHERE messages.hold_id = h.id AND messages.status = 'streaming' AND h.state <> 'held'`,
    )
    .run().changes;
}
