// Files attached to a chat message: the rules for what is taken (type by the file's own bytes,
// size, count, a document's pages and characters), and the only writer of the attachments table.
// An upload is stored pending, owned by its user; a send gives it to its question (chat's addTurn
// binds it in the turn's own write), and every later lookup names the user, so another user's
// attachment id is simply not found.
import { query, type Op } from '../storage/op';
import type { AttachmentInfo, AttachmentKind } from '../storage/queries/attachments';
import { extractText } from './extract';
import { sniff, zipExpandedSize } from './sniff';

export type { AttachmentInfo } from '../storage/queries/attachments';

export interface AttachmentLimits {
  maxBytes: number;
  perMessage: number;
  maxPages: number;
  maxChars: number;
}

export interface UploadedFile {
  name: string;
  /** The type the browser gave; only a hint. */
  mime: string;
  data: Buffer;
  /** Cut off at the size limit while it was read. */
  truncated: boolean;
}

export interface Accepted {
  kind: AttachmentKind;
  name: string;
  mime: string;
  size: number;
  data: Buffer | null;
  text: string | null;
  pages: number | null;
}

export type FileRefusal =
  | 'too_large' | 'empty' | 'not_image' | 'not_pdf' | 'not_docx' | 'binary' | 'type' | 'no_text' | 'too_many_pages' | 'too_long' | 'malformed' | 'busy' | 'timeout';

/** A DOCX expands to its XML: more than this many times the upload limit is a zip bomb, refused unopened. */
const DOCX_EXPANSION = 20;
/** How long an attachment nobody sent is kept. */
const PENDING_DAYS = 1;
/** Attachments a user may have uploaded and not sent, for storage's sake: five messages' worth. */
export const PENDING_PER_MESSAGE = 5;

/** A file name as shown and stored: no path, no control characters, at most 255 characters. */
export function cleanName(name: string): string {
  const base = name.split(/[/\\]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 255);
  return clean || 'file';
}

/** Checks one uploaded file and, for a document, extracts its text: what to store, or why not. */
export async function acceptFile(file: UploadedFile, limits: AttachmentLimits): Promise<Accepted | { refused: FileRefusal; name: string }> {
  const name = cleanName(file.name);
  const refuse = (refused: FileRefusal) => ({ refused, name });
  if (file.truncated || file.data.length > limits.maxBytes) return refuse('too_large');
  if (file.data.length === 0) return refuse('empty');
  const what = sniff(name, file.mime, file.data);
  const base = { name, size: file.data.length };
  if (what.kind === 'refused') return refuse(what.reason);
  if (what.kind === 'image') return { ...base, kind: 'image', mime: what.mime, data: file.data, text: null, pages: null };
  let text: string;
  let pages: number | null = null;
  if (what.kind === 'text') {
    // More bytes than the most characters take (4 each in UTF-8) is too long, known without decoding it on the event loop.
    if (file.data.length > 4 * limits.maxChars) return refuse('too_long');
    text = file.data.toString('utf8');
  }
  else {
    if (what.kind === 'docx' && zipExpandedSize(file.data) > DOCX_EXPANSION * limits.maxBytes) return refuse('malformed');
    const got = await extractText({ kind: what.kind, data: file.data, maxPages: limits.maxPages });
    if ('error' in got) return refuse(got.error);
    ({ text, pages } = got);
  }
  // PostgreSQL's text takes no NUL; line ends as one.
  // eslint-disable-next-line no-control-regex
  text = text.replace(/\u0000/g, '').replace(/\r\n?/g, '\n').trim();
  if (text === '') return refuse(what.kind === 'pdf' ? 'no_text' : 'empty');
  if (text.length > limits.maxChars) return refuse('too_long');
  const mime = what.kind === 'pdf' ? 'application/pdf' : what.kind === 'docx' ? 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' : 'text/plain';
  return { ...base, kind: 'document', mime, data: null, text, pages };
}

/**
 * Stores an accepted file, pending until a send takes it; the user's pending ones older than a day
 * go meanwhile. Undefined, storing nothing, when the user already has `most` pending.
 */
export function* saveAttachment(userId: number, file: Accepted, most: number, now = new Date()): Op<number | undefined> {
  yield* query('attachments.prune', { userId, before: new Date(now.getTime() - PENDING_DAYS * 86_400_000).toISOString() });
  if (Number((yield* query('attachments.pendingCount', { userId })) ?? 0) >= most) return undefined;
  return (yield* query('attachments.insert', { userId, ...file }))!;
}

/** The user's pending attachments with these ids, in the order given; undefined when any is not theirs, not pending, or missing. */
export function* pendingAttachments(userId: number, ids: readonly number[]): Op<AttachmentInfo[] | undefined> {
  const found: AttachmentInfo[] = [];
  for (const id of new Set(ids)) {
    const one = yield* query('attachments.pending', { userId, id });
    if (!one) return undefined;
    found.push(one);
  }
  return found;
}

export function* discardAttachment(userId: number, id: number): Op<boolean> {
  return (yield* query('attachments.discard', { userId, id })).changes === 1;
}

/** Gives the user's pending attachments to their question; false when one was taken meanwhile (a second send of the same files). */
export function* bindAttachments(userId: number, ids: readonly number[], messageId: number): Op<boolean> {
  for (const id of ids) if ((yield* query('attachments.bind', { userId, id, messageId })).changes !== 1) return false;
  return true;
}

/** Edit's new version of a question keeps the files of the one it replaces (copied: each version goes with its own). */
export function* copyAttachments(fromMessageId: number, toMessageId: number): Op<void> {
  yield* query('attachments.copy', { from: fromMessageId, to: toMessageId });
}

/** Every attachment of a conversation's messages, by message id. */
export function* attachmentsByMessage(conversationId: number): Op<Map<number, AttachmentInfo[]>> {
  const byMessage = new Map<number, AttachmentInfo[]>();
  for (const a of yield* query('attachments.ofConversation', { conversationId })) {
    const list = byMessage.get(a.messageId!) ?? [];
    list.push(a);
    byMessage.set(a.messageId!, list);
  }
  return byMessage;
}

/** An image's bytes for its owner; undefined for anyone else. */
export function* imageOf(userId: number, id: number): Op<{ mime: string; data: Buffer } | undefined> {
  return yield* query('attachments.image', { userId, id });
}
