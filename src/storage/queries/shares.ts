// Queries of share links and of exports (chat/shares.ts, chat/export.ts; see queries/index.ts).
import type { Changes, Q } from './shape';
import type { Conversation } from './chat';

export interface ShareRow {
  id: number;
  token: string;
  conversationId: number;
  title: string;
  displayName: string | null;
  createdAt: string;
  revokedAt: string | null;
}

/** A live share as its page shows it: the snapshot, never the owner's username. */
export interface SharedRow {
  title: string;
  displayName: string | null;
  snapshot: string;
  createdAt: string;
}

/** A file of a conversation's message as a share keeps it: its text (a document's) included. */
export interface ShareFileRow {
  id: number;
  messageId: number;
  kind: 'image' | 'document';
  name: string;
  size: number;
  pages: number | null;
  text: string | null;
}

export interface ShareQueries {
  'shares.insert': Q<{ token: string; userId: number; conversationId: number; title: string; displayName: string | null; snapshot: string }, number | undefined>;
  /**
   * Locks the user's row for the transaction (PostgreSQL; SQLite's writes take turns already), so
   * their links and presets are counted and added one writer at a time and a cap holds.
   */
  'shares.lockUser': Q<{ userId: number }, unknown>;
  /** Live shares of a user (not revoked): the cap counts them. */
  'shares.countLive': Q<{ userId: number }, number>;
  /** A user's shares, newest first, revoked ones too. */
  'shares.list': Q<{ userId: number; limit: number }, ShareRow[]>;
  'shares.revoke': Q<{ id: number; userId: number; now: string }, Changes>;
  /** A share by its token when it is live: not revoked, its conversation there, its owner not disabled. */
  'shares.byToken': Q<{ token: string }, SharedRow | undefined>;
  /** Every file of the conversation's messages, in upload order (what a new share may keep). */
  'shares.files': Q<{ conversationId: number }, ShareFileRow[]>;
  /**
   * An image's bytes through a live share: the attachment `id` of message `messageId`, in the
   * share's conversation and of its owner. (Messages' ids are never reused, so a removed question's
   * image is not found again under another's.)
   */
  /** The images still there of the share's conversation (a removed question's are gone): the page shows the rest by name. */
  'shares.images': Q<{ token: string }, Array<{ id: number; messageId: number }>>;
  'shares.image': Q<{ token: string; id: number; messageId: number }, { mime: string; data: Buffer } | undefined>;
  /** A user's conversations after `after` by id, for an export of all of them a page at a time. */
  'exports.conversations': Q<{ userId: number; after: number; limit: number }, Conversation[]>;
}
