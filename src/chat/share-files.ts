// The files of a shared conversation's messages, as its snapshot keeps them. An image is kept by
// reference (its name, size and ids): the page shows it from the attachments table through the
// link, for as long as its question exists. A document keeps the text the model read, which is
// what a teacher grading handed-in work needs to see (the file itself was never stored): the
// texts are kept in order while the snapshot stays within its size, and any left out say so.
import { query, type Op } from '../storage/op';

export interface SharedFile {
  id: number;
  /** The question it came with: messages' ids are never reused, so the pair names this file only. */
  messageId: number;
  kind: 'image' | 'document';
  name: string;
  size: number;
  pages: number | null;
  /** A document's text, when the snapshot had room for it. */
  text?: string;
  /** A document whose text did not fit in the snapshot. */
  textLeftOut?: true;
}

/** Room kept per document for its `"textLeftOut":true` and separators. */
const FLAG_ROOM = 32;

/**
 * The files of these messages (the thread being shared), by message id, documents without their
 * text yet; `texts` gets each document's text, to add with `addTexts` once the rest is measured.
 */
export function* filesOfThread(conversationId: number, messageIds: ReadonlySet<number>): Op<{ byMessage: Map<number, SharedFile[]>; texts: Map<SharedFile, string> }> {
  const byMessage = new Map<number, SharedFile[]>();
  const texts = new Map<SharedFile, string>();
  for (const row of yield* query('shares.files', { conversationId })) {
    if (!messageIds.has(row.messageId)) continue; // another version of a question, not shown when shared
    const file: SharedFile = { id: row.id, messageId: row.messageId, kind: row.kind, name: row.name, size: row.size, pages: row.pages };
    if (row.kind === 'document' && row.text !== null) texts.set(file, row.text);
    byMessage.set(row.messageId, [...(byMessage.get(row.messageId) ?? []), file]);
  }
  return { byMessage, texts };
}

/** Gives documents their text, in order, while `used` plus what is added stays within `max` characters (as JSON). */
export function addTexts(texts: Map<SharedFile, string>, used: number, max: number): void {
  let size = used + texts.size * FLAG_ROOM;
  for (const [file, text] of texts) {
    const more = JSON.stringify(text).length + ',"text":'.length;
    if (size + more > max) file.textLeftOut = true;
    else {
      file.text = text;
      size += more;
    }
  }
}

/** The images of a snapshot's messages: id to the question's id, for serving them through the link. */
export function imagesOf(messages: ReadonlyArray<{ files?: SharedFile[] }>): Map<number, number> {
  const images = new Map<number, number>();
  for (const m of messages) for (const f of m.files ?? []) if (f.kind === 'image') images.set(f.id, f.messageId);
  return images;
}

/** Which of a snapshot's images (id to question id) are still there to show. */
export function* imagesStillThere(token: string, images: ReadonlyMap<number, number>): Op<Set<number>> {
  const there = new Set<number>();
  if (images.size === 0) return there;
  for (const { id, messageId } of yield* query('shares.images', { token })) if (images.get(id) === messageId) there.add(id);
  return there;
}

/** An image of a live share, by its id and its question's: undefined when the link or the question is gone. */
export function* sharedImage(token: string, id: number, messageId: number): Op<{ mime: string; data: Buffer } | undefined> {
  return yield* query('shares.image', { token, id, messageId });
}
