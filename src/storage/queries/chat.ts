// Queries of the chat domain (see queries/index.ts).
import type { Changes, Q } from './shape';

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
  /** The message it follows (null for a first question); Retry and Edit make several follow one. */
  parentId: number | null;
}

/** A message's place in its conversation's tree, and its state. */
export type MessageOutline = Pick<Message, 'id' | 'parentId' | 'role' | 'status'>;

export interface ChatQueries {
  'chat.list': Q<{ userId: number; limit: number }, Array<Conversation & { answering: number }>>;
  /** Conversations whose title or a message matches the LIKE pattern `p` (wildcards escaped with \). */
  'chat.search': Q<{ userId: number; p: string; limit: number }, Array<Conversation & { answering: number }>>;
  'chat.find': Q<{ id: number; userId: number }, Conversation | undefined>;
  'chat.create': Q<
    { userId: number; title: string; systemPrompt: string; model: string; temperature: number | null; maxTokens: number | null },
    number | undefined
  >;
  'chat.saveSettings': Q<
    { id: number; systemPrompt: string; model: string; temperature: number | null; maxTokens: number | null },
    Changes
  >;
  'chat.rename': Q<{ id: number; userId: number; title: string }, Changes>;
  'chat.delete': Q<{ id: number }, Changes>;
  'chat.touch': Q<{ id: number }, Changes>;
  /** Every message of the conversation, on every branch, oldest first. */
  'chat.messagesOf': Q<{ conversationId: number }, Message[]>;
  /** The same messages' place in the tree and state, without their text: what a write that reshapes the tree reads. */
  'chat.outline': Q<{ conversationId: number }, MessageOutline[]>;
  'chat.message': Q<{ conversationId: number; id: number }, Message | undefined>;
  'chat.messageByHold': Q<{ holdId: number }, Message | undefined>;
  /** The last message of the thread the conversation shows (0 for none). */
  'chat.leaf': Q<{ conversationId: number }, number | undefined>;
  'chat.setLeaf': Q<{ conversationId: number; leafId: number | null }, Changes>;
  /** A new message's id. */
  'chat.insertMessage': Q<
    {
      conversationId: number; parentId: number | null; role: 'user' | 'assistant'; content: string; status: MessageStatus; model: string | null; holdId: number | null;
      tokens: number | null; tokensEncoding: string | null;
    },
    number | undefined
  >;
  /** Locks a conversation for the transaction (PostgreSQL): turns, Undo and Clear in it take turns. */
  'chat.lockConversation': Q<{ conversationId: number }, unknown>;
  'chat.deleteMessage': Q<{ id: number }, Changes>;
  'chat.deleteMessages': Q<{ conversationId: number }, Changes>;
  /** The text so far of a message still streaming. */
  'chat.streamed': Q<{ id: number; content: string }, Changes>;
  /** A message's own token count, made after it was written (see Message.tokens). */
  'chat.setTokens': Q<{ id: number; tokens: number; tokensEncoding: string }, Changes>;
  'chat.finish': Q<
    {
      id: number; content: string; status: MessageStatus; error: string | null; promptTokens: number | null; completionTokens: number | null;
      charge: number | null; source: 'reported' | 'estimated' | null; dropped: number; holdId: number | null; cutShort: number | null;
      tokens: number | null; tokensEncoding: string | null; reasoningTokens: number | null; cachedTokens: number | null; provider: string | null;
    },
    Changes
  >;
  /** Streaming answers whose hold is closed: marked stopped with what the hold was charged. */
  'chat.recover': Q<Record<string, never>, Changes>;
  /** The holds, still held, of the answers being written in a conversation, and the process that took each. */
  'chat.streamingHolds': Q<{ conversationId: number }, Array<{ holdId: number; owner: string | null }>>;
}
