// Queries of files attached to chat messages (attachments/attachments.ts; see queries/index.ts).
import type { Changes, Q } from './shape';

export type AttachmentKind = 'image' | 'document';

/** What the transcript, the prompt and the estimate need of an attachment: everything but an image's bytes. */
export interface AttachmentInfo {
  id: number;
  messageId: number | null;
  kind: AttachmentKind;
  name: string;
  mime: string;
  size: number;
  /** A document's extracted text; null for an image. */
  text: string | null;
  pages: number | null;
}

export interface AttachmentQueries {
  'attachments.insert': Q<
    { userId: number; kind: AttachmentKind; name: string; mime: string; size: number; data: Buffer | null; text: string | null; pages: number | null },
    number | undefined
  >;
  /** One of the user's attachments that no message has taken yet. */
  'attachments.pending': Q<{ userId: number; id: number }, AttachmentInfo | undefined>;
  /** Gives a pending attachment to a message: 0 changes when it is not the user's, or already taken. */
  'attachments.bind': Q<{ userId: number; id: number; messageId: number }, Changes>;
  /** Every attachment of the conversation's messages, in upload order. */
  'attachments.ofConversation': Q<{ conversationId: number }, AttachmentInfo[]>;
  /** An image's bytes, for its owner only (the user who uploaded it). */
  'attachments.image': Q<{ userId: number; id: number }, { mime: string; data: Buffer } | undefined>;
  /** Copies a question's files to its new version (Edit keeps them): the new rows belong to message `to`. */
  'attachments.copy': Q<{ from: number; to: number }, Changes>;
  /** A pending attachment removed by its owner before sending. */
  'attachments.discard': Q<{ userId: number; id: number }, Changes>;
  /** How many attachments the user has uploaded and not sent. */
  'attachments.pendingCount': Q<{ userId: number }, number | undefined>;
  /** The user's pending attachments uploaded before `before` (an ISO time): never sent. */
  'attachments.prune': Q<{ userId: number; before: string }, Changes>;
}
