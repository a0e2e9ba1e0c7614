// Conversations and messages: the only writer of their tables. Every lookup takes the user id,
// so another user's conversation is simply not found (a 404 for the routes).
import { query, type Op } from '../storage/op';
import type { Conversation, Message, MessageOutline, MessageStatus } from '../storage/queries/chat';
import { childrenOf, newestLeaf, questionOf, threadOf, type ThreadMessage } from './threads';
import { attachmentsByMessage, bindAttachments, copyAttachments, pendingAttachments, type AttachmentInfo } from '../attachments/attachments';

export type { Conversation, Message, MessageStatus } from '../storage/queries/chat';
export type { ThreadMessage } from './threads';

export const TITLE_MAX = 80;
export const MESSAGE_MAX = 100_000;
export const SYSTEM_MAX = 20_000;

/** A message of the history a turn sends: a stored one (with its id and count), or the text being sent. */
export interface HistoryMessage {
  role: 'user' | 'assistant';
  content: string;
  id?: number;
  tokens?: number | null;
  tokensEncoding?: string | null;
  /** Files attached to a question (attachments/content.ts makes them part of what the model reads). */
  attachments?: AttachmentInfo[];
}

/** Counts made for a turn, stored with it: the text sent (or edited), and stored messages that had none. */
export interface TokenCounts {
  encoding: string;
  text: number | null;
  messages: Array<{ id: number; tokens: number }>;
}

export interface Settings {
  systemPrompt: string;
  model: string;
  temperature: number | null;
  maxTokens: number | null;
}

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

/** The user's conversations, newest first, each saying whether an answer is being written in it. */
export function* listConversations(userId: number, search = '', limit = 100): Op<Array<Conversation & { answering: number }>> {
  const term = search.trim();
  if (!term) return yield* query('chat.list', { userId, limit });
  return yield* query('chat.search', { userId, p: likePattern(term), limit });
}

export function* findConversation(userId: number, id: number): Op<Conversation | undefined> {
  return yield* query('chat.find', { id, userId });
}

export function* createConversation(userId: number, title: string, settings: Settings): Op<Conversation> {
  const id = (yield* query('chat.create', {
    userId, title, systemPrompt: settings.systemPrompt, model: settings.model, temperature: settings.temperature, maxTokens: settings.maxTokens,
  })) as number;
  return (yield* findConversation(userId, id))!;
}

/** Whether the conversation has these settings stored already (a new chat is made with them; most turns change none). */
export function hasSettings(conversation: Conversation, settings: Settings): boolean {
  return conversation.systemPrompt === settings.systemPrompt && conversation.model === settings.model &&
    conversation.temperature === settings.temperature && conversation.maxTokens === settings.maxTokens;
}

export function* saveSettings(conversationId: number, settings: Settings): Op<void> {
  yield* query('chat.saveSettings', {
    id: conversationId, systemPrompt: settings.systemPrompt, model: settings.model, temperature: settings.temperature, maxTokens: settings.maxTokens,
  });
}

export function* renameConversation(userId: number, id: number, title: string): Op<boolean> {
  return (yield* query('chat.rename', { id, userId, title })).changes === 1;
}

export function* deleteConversation(userId: number, id: number): Op<boolean> {
  if (!(yield* findConversation(userId, id))) return false;
  yield* query('chat.deleteMessages', { conversationId: id });
  return (yield* query('chat.delete', { id })).changes === 1;
}

/** Every message of the conversation, on every branch, oldest first. */
function* everyMessage(conversationId: number): Op<Message[]> {
  return yield* query('chat.messagesOf', { conversationId });
}

/**
 * The same, without their text: what the writes below read to reshape the tree, inside their
 * transaction. Reading every message's text there cost about 10 µs a message (4.6 ms a turn at 400
 * messages of 2 KB), with the write lock held and the event loop blocked.
 */
function* outlineOf(conversationId: number): Op<MessageOutline[]> {
  return yield* query('chat.outline', { conversationId });
}

/** The thread the conversation shows: its messages from the first to its leaf, each with its versions. */
export function* messagesOf(conversationId: number): Op<ThreadMessage[]> {
  return (yield* threadAt(conversationId)).thread;
}

/**
 * The thread, and the leaf it was read at (0 for none). The leaf is read first: a read's statements
 * are not one snapshot (PostgreSQL, or another process on SQLite), and messages read after it hold
 * its whole thread, so the thread is never older than the leaf. Read the other way round, a turn
 * stored meanwhile gave a leaf the messages did not hold, the thread fell back to the older one,
 * and a turn read at that leaf was stored after an answer its model never saw.
 */
function* threadAt(conversationId: number): Op<{ thread: ThreadMessage[]; leaf: number }> {
  const leaf = yield* lastMessageId(conversationId);
  return { thread: threadOf(yield* everyMessage(conversationId), leaf), leaf };
}

export function* findMessage(conversationId: number, id: number): Op<Message | undefined> {
  return yield* query('chat.message', { conversationId, id });
}

export function* findMessageByHold(holdId: number): Op<Message | undefined> {
  return yield* query('chat.messageByHold', { holdId });
}

export type TurnMode = 'send' | 'retry' | 'edit';

/**
 * The conversation as the model sees it for a turn, read only: for Send the thread and the new
 * text; for Retry the thread up to the question answered again; for Edit up to the question
 * replaced, then its new text. Undefined when there is no such question. `basis`: the leaf it was
 * read at, which addTurn stores the turn against only if it is still the leaf.
 */
export function* historyFor(
  conversationId: number, mode: TurnMode, text: string, target?: number, attached: AttachmentInfo[] = [],
): Op<{ history: HistoryMessage[]; basis: number } | undefined> {
  const at = yield* threadAt(conversationId);
  let thread: Message[] = at.thread.filter((m) => m.status !== 'streaming');
  const question = mode === 'send' ? undefined : questionOf(thread, target);
  if (mode !== 'send') {
    if (!question) return undefined;
    thread = thread.slice(0, thread.indexOf(question) + (mode === 'retry' ? 1 : 0));
  }
  const files = yield* attachmentsByMessage(conversationId); // re-sent with their questions, never extracted again
  const history: HistoryMessage[] = thread
    .filter((m) => m.role === 'user' || m.content !== '')
    .map((m) => ({ role: m.role, content: m.content, id: m.id, tokens: m.tokens, tokensEncoding: m.tokensEncoding, attachments: files.get(m.id) }));
  // Edit's new version keeps the files of the question it replaces, after any newly attached (the order of their
  // rows once addTurn has bound the new ones and copied the kept ones).
  const kept = mode === 'edit' ? (files.get(question!.id) ?? []) : [];
  if (mode !== 'retry') history.push({ role: 'user', content: text, attachments: [...attached, ...kept] });
  return { history, basis: at.leaf };
}

/** The id of the last message of the thread shown (0 for none). */
export function* lastMessageId(conversationId: number): Op<number> {
  return (yield* query('chat.leaf', { conversationId })) ?? 0;
}

export interface StoredTurn {
  /** The question: the one sent, or Edit's new version; none for Retry. */
  user: Message | undefined;
  assistant: Message;
}

/**
 * Stores a turn once its hold is taken, in one write, and shows its thread: Send adds the question
 * after the thread's last message; Retry adds a new answer to the question (`target`, else the
 * last), beside the earlier ones; Edit adds a new version of the question beside it. Nothing is
 * removed: earlier versions stay, one click away. Then an empty answer to stream into. Undefined,
 * changing nothing, when the conversation is not as the turn's history read it (`basis`, from
 * historyFor: an Undo, Clear or another branch shown while the turn waited for the model) or
 * another answer in it is still streaming. `counts`, made while the prompt was fitted, are stored
 * with the messages (the basis check above means they were counted as they stand).
 */
export function* addTurn(
  conversationId: number, mode: TurnMode, text: string, model: string, holdId: number | null, basis: number, counts?: TokenCounts, target?: number,
  attachments?: { userId: number; ids: readonly number[] },
): Op<StoredTurn | undefined> {
  yield* query('chat.lockConversation', { conversationId });
  const all = yield* outlineOf(conversationId);
  const leaf = yield* lastMessageId(conversationId);
  if (leaf !== basis || all.some((m) => m.status === 'streaming')) return undefined;
  const thread = threadOf(all, leaf);
  const question = mode === 'send' ? undefined : questionOf(thread, target);
  if (mode !== 'send' && !question) return undefined;
  // The question's files, still the user's and not sent with another question (checked before any write).
  const files = mode === 'retry' ? [] : (attachments?.ids ?? []);
  if (files.length > 0 && !(yield* pendingAttachments(attachments!.userId, files))) return undefined;
  for (const { id, tokens } of counts?.messages ?? []) yield* query('chat.setTokens', { id, tokens, tokensEncoding: counts!.encoding });
  const textCount = counts?.text != null ? { tokens: counts.text, tokensEncoding: counts.encoding } : { tokens: null, tokensEncoding: null };
  let userId: number | undefined;
  if (mode !== 'retry') {
    const parentId = mode === 'send' ? (thread.at(-1)?.id ?? null) : question!.parentId;
    userId = (yield* query('chat.insertMessage', { conversationId, parentId, role: 'user', content: text, status: 'done', model: null, holdId: null, ...textCount })) as number;
    // Taken by a concurrent send after the check above (PostgreSQL's read committed): the whole write is undone.
    if (files.length > 0 && !(yield* bindAttachments(attachments!.userId, files, userId))) throw new Error('attachments were taken by another send');
    if (mode === 'edit') yield* copyAttachments(question!.id, userId);
  }
  const assistantId = (yield* query('chat.insertMessage', {
    conversationId, parentId: userId ?? question!.id, role: 'assistant', content: '', status: 'streaming', model, holdId, tokens: null, tokensEncoding: null,
  })) as number;
  yield* query('chat.setLeaf', { conversationId, leafId: assistantId });
  yield* query('chat.touch', { id: conversationId });
  return {
    user: userId === undefined ? undefined : yield* findMessage(conversationId, userId),
    assistant: (yield* findMessage(conversationId, assistantId))!,
  };
}

/**
 * Shows another version of a message (‹ 2/3 ›): the thread through it, on to its newest answer.
 * False, changing nothing, while an answer is streaming; undefined for a message not in the conversation.
 */
export function* showVersion(conversationId: number, messageId: number): Op<boolean | undefined> {
  yield* query('chat.lockConversation', { conversationId });
  const all = yield* outlineOf(conversationId);
  if (!all.some((m) => m.id === messageId)) return undefined;
  if (all.some((m) => m.status === 'streaming')) return false;
  yield* query('chat.setLeaf', { conversationId, leafId: newestLeaf(childrenOf(all), messageId) });
  return true;
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
  /** The answer's own count (countMessageTokens) and its encoding; else it is counted by a later turn. */
  tokens?: number | null;
  tokensEncoding?: string | null;
  /** Hidden (reasoning) tokens the provider reported within completionTokens. */
  reasoningTokens?: number | null;
  cachedTokens?: number | null;
  provider?: string | null;
}

/** The text of an answer still streaming, so far (a page opened meanwhile shows it); nothing once it is finished. */
export function* keepStreamed(messageId: number, content: string): Op<void> {
  yield* query('chat.streamed', { id: messageId, content });
}

export function* finishMessage(messageId: number, o: Outcome): Op<void> {
  // The content is new: it keeps the count given with it, or none until a later turn counts it.
  const counted = o.tokens != null && o.tokensEncoding != null;
  yield* query('chat.finish', {
    id: messageId, content: o.content, status: o.status, error: o.error ?? null, promptTokens: o.promptTokens ?? null,
    completionTokens: o.completionTokens ?? null, charge: o.charge ?? null, source: o.source ?? null, dropped: o.dropped ?? 0, holdId: o.holdId ?? null,
    cutShort: o.cutShort ?? null, tokens: counted ? o.tokens! : null, tokensEncoding: counted ? o.tokensEncoding! : null,
    reasoningTokens: o.reasoningTokens ?? null, cachedTokens: o.cachedTokens ?? null, provider: o.provider ?? null,
  });
}

/**
 * Removes the thread's last question with every answer to it (and anything after those), and gives
 * the question back (as Gradio puts it back in the textbox). The thread shown is then the newest
 * one left from where the question was. False, changing nothing, while an answer is streaming.
 */
export function* undoLastTurn(conversationId: number): Op<{ draft?: string } | false> {
  yield* query('chat.lockConversation', { conversationId });
  const all = yield* outlineOf(conversationId);
  if (all.some((m) => m.status === 'streaming')) return false;
  const thread = threadOf(all, (yield* query('chat.leaf', { conversationId })) ?? null);
  const question = thread.filter((m) => m.role === 'user').at(-1);
  if (!question) return {};
  const draft = (yield* findMessage(conversationId, question.id))!.content;
  const children = childrenOf(all);
  const doomed = [question.id];
  for (let i = 0; i < doomed.length; i++) for (const c of children.get(doomed[i]!) ?? []) doomed.push(c.id);
  for (const id of doomed.reverse()) yield* query('chat.deleteMessage', { id });
  const gone = new Set(doomed);
  // 0 (nothing left to show) when the question was the first and no other first question is left.
  const leaf = newestLeaf(childrenOf(all.filter((m) => !gone.has(m.id))), question.parentId ?? 0);
  yield* query('chat.setLeaf', { conversationId, leafId: leaf || null });
  return { draft };
}

/** Removes every message; false, changing nothing, while an answer is streaming. */
export function* clearMessages(conversationId: number): Op<{ draft?: string } | false> {
  yield* query('chat.lockConversation', { conversationId });
  if ((yield* outlineOf(conversationId)).some((m) => m.status === 'streaming')) return false;
  yield* query('chat.deleteMessages', { conversationId });
  yield* query('chat.setLeaf', { conversationId, leafId: null });
  return {};
}

/**
 * Answers left streaming by a crashed process, once the ledger has resolved their holds: marked
 * stopped, with what the hold was charged.
 */
export function* recoverMessages(): Op<number> {
  return (yield* query('chat.recover', {})).changes;
}
