// Conversations and messages: the only writer of their tables. Every lookup takes the user id,
// so another user's conversation is simply not found (a 404 for the routes).
import { query, type Op } from '../storage/op';

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
  /** Its own share of a prompt's tokens, counted when its content was written; null until counted. */
  tokens: number | null;
  /** What `tokens` holds for (countMessageTokens' encoding); null with it. */
  tokensEncoding: string | null;
  /** Hidden (reasoning) tokens the provider reported within completionTokens; null when none. */
  reasoningTokens: number | null;
  /** Prompt tokens the provider served from its cache (within promptTokens, at the cached rate); null when none. */
  cachedTokens: number | null;
  /** The provider that answered (when there are several, the page says which). */
  provider: string | null;
  createdAt: string;
}

/** A message of the history a turn sends: a stored one (with its id and count), or the text being sent. */
export interface HistoryMessage {
  role: 'user' | 'assistant';
  content: string;
  id?: number;
  tokens?: number | null;
  tokensEncoding?: string | null;
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

export function* messagesOf(conversationId: number): Op<Message[]> {
  return yield* query('chat.messagesOf', { conversationId });
}

export function* findMessage(conversationId: number, id: number): Op<Message | undefined> {
  return yield* query('chat.message', { conversationId, id });
}

export function* findMessageByHold(holdId: number): Op<Message | undefined> {
  return yield* query('chat.messageByHold', { holdId });
}

export type TurnMode = 'send' | 'retry' | 'edit';

/**
 * The conversation as the model sees it for a turn, read only: for Retry without the last answer,
 * for Edit with the last question's new text; undefined when there is nothing to answer again.
 */
export function* historyFor(conversationId: number, mode: TurnMode, text: string): Op<HistoryMessage[] | undefined> {
  const list = (yield* messagesOf(conversationId)).filter((m) => m.status !== 'streaming');
  if (mode !== 'send' && list.at(-1)?.role === 'assistant') list.pop();
  if (mode !== 'send' && list.at(-1)?.role !== 'user') return undefined;
  const history: HistoryMessage[] = list
    .filter((m) => m.role === 'user' || m.content !== '')
    .map((m) => ({ role: m.role, content: m.content, id: m.id, tokens: m.tokens, tokensEncoding: m.tokensEncoding }));
  if (mode === 'send') history.push({ role: 'user', content: text });
  if (mode === 'edit') history[history.length - 1] = { role: 'user', content: text };
  return history;
}

/** The id of the conversation's last message (0 for none): what a turn's history was read at. */
export function* lastMessageId(conversationId: number): Op<number> {
  return (yield* query('chat.lastMessageId', { conversationId })) as number;
}

export interface StoredTurn {
  user: Message | undefined;
  assistant: Message;
  removed: number[];
}

/**
 * Stores a turn once its hold is taken, in one write: the user's message (Send), or the
 * last answer removed (Retry) and the last question rewritten (Edit); then an empty answer to
 * stream into. Undefined, changing nothing, when the conversation is not as the turn's history
 * read it (`basis`, from lastMessageId: an Undo or Clear while the turn waited for the model) or
 * another answer in it is still streaming. `counts`, made while the prompt was fitted, are stored
 * with the messages (the basis check above means they were counted as they stand).
 */
export function* addTurn(
  conversationId: number, mode: TurnMode, text: string, model: string, holdId: number | null, basis: number, counts?: TokenCounts,
): Op<StoredTurn | undefined> {
  yield* query('chat.lockConversation', { conversationId });
  const list = yield* messagesOf(conversationId);
  if ((list.at(-1)?.id ?? 0) !== basis || list.some((m) => m.status === 'streaming')) return undefined;
  const removed: number[] = [];
  if (mode !== 'send' && list.at(-1)?.role === 'assistant') {
    removed.push(list.pop()!.id);
    yield* query('chat.deleteMessage', { id: removed[0] });
  }
  for (const { id, tokens } of counts?.messages ?? []) yield* query('chat.setTokens', { id, tokens, tokensEncoding: counts!.encoding });
  const textCount = counts?.text != null ? { tokens: counts.text, tokensEncoding: counts.encoding } : { tokens: null, tokensEncoding: null };
  let userId: number | undefined;
  if (mode === 'send') {
    userId = (yield* query('chat.insertMessage', { conversationId, role: 'user', content: text, status: 'done', model: null, holdId: null, ...textCount })) as number;
  }
  if (mode === 'edit') yield* query('chat.setContent', { content: text, id: (userId = list.at(-1)!.id), ...textCount });
  const assistantId = (yield* query('chat.insertMessage', {
    conversationId, role: 'assistant', content: '', status: 'streaming', model, holdId, tokens: null, tokensEncoding: null,
  })) as number;
  yield* query('chat.touch', { id: conversationId });
  return {
    user: userId === undefined ? undefined : yield* findMessage(conversationId, userId),
    assistant: (yield* findMessage(conversationId, assistantId))!,
    removed,
  };
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
 * Removes the last question and its answer, and gives the question back (as Gradio puts it back in
 * the textbox); false, changing nothing, while an answer is streaming.
 */
export function* undoLastTurn(conversationId: number): Op<{ draft?: string } | false> {
  yield* query('chat.lockConversation', { conversationId });
  const list = yield* messagesOf(conversationId);
  if (list.some((m) => m.status === 'streaming')) return false;
  if (list.at(-1)?.role === 'assistant') yield* query('chat.deleteMessage', { id: list.pop()!.id });
  if (list.at(-1)?.role !== 'user') return {};
  const question = list.pop()!;
  yield* query('chat.deleteMessage', { id: question.id });
  return { draft: question.content };
}

/** Removes every message; false, changing nothing, while an answer is streaming. */
export function* clearMessages(conversationId: number): Op<{ draft?: string } | false> {
  yield* query('chat.lockConversation', { conversationId });
  if ((yield* messagesOf(conversationId)).some((m) => m.status === 'streaming')) return false;
  yield* query('chat.deleteMessages', { conversationId });
  return {};
}

/**
 * Answers left streaming by a crashed process, once the ledger has resolved their holds: marked
 * stopped, with what the hold was charged.
 */
export function* recoverMessages(): Op<number> {
  return (yield* query('chat.recover', {})).changes;
}
