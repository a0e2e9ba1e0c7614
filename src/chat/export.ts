// Exports of conversations: the thread a conversation shows (the versions chosen on the page), with
// each answer's model, tokens and cost, as JSON or as Markdown; and every conversation of a user,
// one at a time, so an export of a big account is streamed rather than built in memory.
import { query, type Op, type Store } from '../storage/op';
import type { Conversation } from '../storage/queries/chat';
import { findConversation, messagesOf, type ThreadMessage } from './conversations';

/** The version of the export's JSON shape, bumped when a field changes meaning. */
export const EXPORT_VERSION = 1;
const PAGE = 50;

export interface ExportedMessage {
  role: 'user' | 'assistant';
  content: string;
  createdAt: string;
  /** An answer's figures; null on questions, and on answers that were never charged. */
  status?: string;
  model?: string | null;
  promptTokens?: number | null;
  completionTokens?: number | null;
  reasoningTokens?: number | null;
  cachedTokens?: number | null;
  cost?: number | null;
  /** Whether the tokens were reported by the provider or counted here. */
  counted?: 'reported' | 'estimated' | null;
}

export interface ExportedConversation {
  id: number;
  title: string;
  systemPrompt: string;
  model: string | null;
  updatedAt: string;
  messages: ExportedMessage[];
}

function exportedMessage(m: ThreadMessage): ExportedMessage {
  const base = { role: m.role, content: m.content, createdAt: m.createdAt };
  if (m.role === 'user') return base;
  return {
    ...base, status: m.status, model: m.model, promptTokens: m.promptTokens, completionTokens: m.completionTokens,
    reasoningTokens: m.reasoningTokens, cachedTokens: m.cachedTokens, cost: m.charge, counted: m.source,
  };
}

function exported(c: Conversation, thread: ThreadMessage[]): ExportedConversation {
  return { id: c.id, title: c.title, systemPrompt: c.systemPrompt, model: c.model, updatedAt: c.updatedAt, messages: thread.map(exportedMessage) };
}

/** One of the user's conversations as exported; undefined when it is not theirs (or not there). */
export function* exportConversation(userId: number, id: number): Op<ExportedConversation | undefined> {
  const c = yield* findConversation(userId, id);
  return c && exported(c, yield* messagesOf(c.id));
}

/** Every conversation of the user, oldest first, each read when it is asked for. */
export async function* everyConversation(store: Store, userId: number): AsyncGenerator<ExportedConversation> {
  for (let after = 0; ;) {
    const page = await store.read(function* () {
      return yield* query('exports.conversations', { userId, after, limit: PAGE });
    });
    for (const c of page) {
      after = c.id;
      yield exported(c, await store.read(messagesOf, c.id));
    }
    if (page.length < PAGE) return;
  }
}

/** The words a Markdown export uses, in the reader's language. */
export interface MarkdownWords {
  you: string;
  assistant: string;
  system: string;
  /** An answer's figures line, from its model, tokens and cost. */
  figures(m: ExportedMessage): string;
}

/**
 * The conversation as Markdown: a heading per message, the answer's figures under it in italics.
 * Message text is kept as written (it is Markdown already); a heading line in it cannot be
 * confused with ours, which are level 2 under the title's level 1.
 */
export function markdownOf(c: ExportedConversation, words: MarkdownWords): string {
  const parts = [`# ${c.title.replace(/\n/g, ' ') || '—'}`];
  if (c.systemPrompt) parts.push(`## ${words.system}`, c.systemPrompt.split('\n').map((l) => `> ${l}`).join('\n'));
  for (const m of c.messages) {
    parts.push(`## ${m.role === 'user' ? words.you : words.assistant}`, m.content);
    if (m.role === 'assistant') parts.push(`*${words.figures(m)}*`);
  }
  return `${parts.join('\n\n')}\n`;
}
