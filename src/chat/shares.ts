// Share links: a read-only copy of the thread a conversation shows, at a random, unguessable link,
// revocable by its owner. A snapshot, not the live conversation: a student hands in work and what
// the teacher graded does not change when the student edits or answers again later. The shared
// page shows the text, the models and the questions' files (share-files.ts) only: never balance, costs, tokens or the owner's username
// (a display name only when the owner gives one). The only writer of the shares table.
import { randomBytes } from 'node:crypto';
import { query, type Op } from '../storage/op';
import type { ShareRow } from '../storage/queries/shares';
import { findConversation, messagesOf } from './conversations';
import { addTexts, filesOfThread, type SharedFile } from './share-files';

export type { ShareRow } from '../storage/queries/shares';

/** Live links a user may have at once. */
export const SHARES_MAX = 100;
export const DISPLAY_NAME_MAX = 60;
/** The most characters a snapshot holds (about 2 MB of text: twenty of the longest messages). */
export const SNAPSHOT_MAX = 2_000_000;
const LIST_MAX = 500;

/** Why a share was refused; the code is the message key's suffix (share.error.<code>). */
export class ShareError extends Error {
  constructor(readonly code: 'empty' | 'too_many' | 'too_large' | 'display_name', readonly vars: Record<string, number> = {}) {
    super(code);
  }
}

export interface SharedMessage {
  role: 'user' | 'assistant';
  content: string;
  model: string | null;
  createdAt: string;
  /** Its files (share-files.ts); absent in snapshots made before files were kept. */
  files?: SharedFile[];
}

export interface SharedPage {
  title: string;
  displayName: string | null;
  messages: SharedMessage[];
  /** When it was shared: the page says the copy is of that moment. */
  createdAt: string;
}

/** A new link's token: 128 random bits, 22 URL-safe characters. */
export const newShareToken = (): string => randomBytes(16).toString('base64url');

/** A display name as kept: whitespace folded, empty as none; refused when too long. */
export function displayNameOf(text: unknown): string | null {
  const name = typeof text === 'string' ? text.replace(/\s+/g, ' ').trim() : '';
  if ([...name].length > DISPLAY_NAME_MAX) throw new ShareError('display_name', { max: DISPLAY_NAME_MAX });
  return name === '' ? null : name;
}

/**
 * Shares the thread the conversation shows now: finished messages only (an answer being written is
 * left out). Undefined when the conversation is not the user's. A write operation.
 */
export function* createShare(userId: number, conversationId: number, displayName: string | null, token: string): Op<string | undefined> {
  const conversation = yield* findConversation(userId, conversationId);
  if (!conversation) return undefined;
  const thread = (yield* messagesOf(conversationId)).filter((m) => m.status !== 'streaming');
  const { byMessage, texts } = yield* filesOfThread(conversationId, new Set(thread.map((m) => m.id)));
  // A question of files only has no text but is kept.
  const messages: SharedMessage[] = thread.filter((m) => m.content !== '' || byMessage.has(m.id)).map((m) => ({
    role: m.role, content: m.content, model: m.role === 'assistant' ? m.model : null, createdAt: m.createdAt, ...(byMessage.has(m.id) && { files: byMessage.get(m.id) }),
  }));
  if (messages.length === 0) throw new ShareError('empty');
  addTexts(texts, JSON.stringify(messages).length, SNAPSHOT_MAX);
  const snapshot = JSON.stringify(messages);
  if (snapshot.length > SNAPSHOT_MAX) throw new ShareError('too_large');
  yield* query('shares.lockUser', { userId });
  if ((yield* query('shares.countLive', { userId })) >= SHARES_MAX) throw new ShareError('too_many', { max: SHARES_MAX });
  yield* query('shares.insert', { token, userId, conversationId, title: conversation.title, displayName, snapshot });
  return token;
}

/** The user's links, newest first, revoked ones too (marked). */
export function* sharesOf(userId: number): Op<ShareRow[]> {
  return yield* query('shares.list', { userId, limit: LIST_MAX });
}

/** Revokes one of the user's live links; false when it is not theirs or already revoked. */
export function* revokeShare(userId: number, id: number, now: Date): Op<boolean> {
  return (yield* query('shares.revoke', { id, userId, now: now.toISOString() })).changes === 1;
}

/** The page of a live link; undefined when revoked, its conversation deleted or its owner disabled. */
export function* sharedPage(token: string): Op<SharedPage | undefined> {
  if (!/^[\w-]{22}$/.test(token)) return undefined;
  const row = yield* query('shares.byToken', { token });
  return row && { title: row.title, displayName: row.displayName, createdAt: row.createdAt, messages: JSON.parse(row.snapshot) as SharedMessage[] };
}
