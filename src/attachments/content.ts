// How a message with attachments reads to the model: each document's extracted text in a block
// naming its file, then what the user wrote, as one text; images after it as OpenAI image_url
// parts. Counting and sending both build the content here, so what is counted is what is sent.
// A model without vision is never sent an image: the page refuses a new one, and an image earlier
// in the conversation (a model changed mid-way) is named in the text instead.
import type { AttachmentInfo } from '../storage/queries/attachments';
import { query, type Op } from '../storage/op';

export type ContentPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };
export type Content = string | ContentPart[];

/** A stored image's place in a prompt until it is sent (`attachment:<id>:<bytes>`): the bytes are read only for the request itself. */
const IMAGE_REF = 'attachment:';
/**
 * Image bytes one request carries at most (OpenAI takes 50 MB of payload): a long conversation of
 * images sends its newest ones, and the older ones are named in their place, so a turn never
 * holds gigabytes in memory. The hold counted them all: leaving some out can only cost less.
 */
export const IMAGE_BYTES_PER_REQUEST = 32 * 1024 * 1024;

export interface WithAttachments {
  content: string;
  attachments?: readonly AttachmentInfo[];
}

/** The delimited block of one document, as the model reads it. */
export function documentBlock(a: Pick<AttachmentInfo, 'name' | 'text'>): string {
  return `<file name="${a.name.replace(/"/g, "'")}">\n${a.text ?? ''}\n</file>`;
}

export function contentOf(m: WithAttachments, vision: boolean): Content {
  const files = m.attachments ?? [];
  if (files.length === 0) return m.content;
  const images = files.filter((a) => a.kind === 'image');
  const named = vision ? [] : images.map((a) => `[image: ${a.name}]`);
  const blocks = [...files.filter((a) => a.kind === 'document').map(documentBlock), ...named];
  const text = [...blocks, m.content].filter((s) => s !== '').join('\n\n');
  if (!vision || images.length === 0) return text;
  return [{ type: 'text', text }, ...images.map((a): ContentPart => ({ type: 'image_url', image_url: { url: `${IMAGE_REF}${a.id}:${a.size}` } }))];
}

/** Characters a count of this message reads: its text and its documents' text. */
export function charsOf(m: WithAttachments): number {
  return (m.attachments ?? []).reduce((n, a) => n + (a.text?.length ?? 0), m.content.length);
}

export const hasImages = (m: WithAttachments): boolean => (m.attachments ?? []).some((a) => a.kind === 'image');

/**
 * The messages as they are sent: each image's reference replaced by its bytes as a data URI (read
 * now, for this request only, and only the user's own images).
 */
export function* inlineImages<M extends { content: Content }>(userId: number, messages: M[]): Op<M[]> {
  const out: M[] = [];
  let room = IMAGE_BYTES_PER_REQUEST;
  for (const m of [...messages].reverse()) { // the newest images first
    if (typeof m.content === 'string') {
      out.unshift(m);
      continue;
    }
    const parts: ContentPart[] = [];
    for (const part of m.content) {
      if (part.type !== 'image_url' || !part.image_url.url.startsWith(IMAGE_REF)) {
        parts.push(part);
        continue;
      }
      const [id, size] = part.image_url.url.slice(IMAGE_REF.length).split(':').map(Number) as [number, number];
      const image = size <= room ? yield* query('attachments.image', { userId, id }) : undefined;
      if (!image) {
        parts.push({ type: 'text', text: '[an earlier image, left out of this request]' });
        continue;
      }
      room -= size;
      parts.push({ type: 'image_url', image_url: { url: `data:${image.mime};base64,${Buffer.from(image.data).toString('base64')}` } });
    }
    out.unshift({ ...m, content: parts });
  }
  return out;
}
