// What an uploaded file is, by its own bytes: the name and the browser's type only choose what it
// claims to be, and a file whose bytes say otherwise (a "PNG" that is not one) is refused.
export type Sniffed =
  | { kind: 'image'; mime: 'image/png' | 'image/jpeg' | 'image/webp' | 'image/gif' }
  | { kind: 'pdf' | 'docx' | 'text' }
  | { kind: 'refused'; reason: 'not_image' | 'not_pdf' | 'not_docx' | 'binary' | 'type' };

const IMAGE_NAME = /\.(png|jpe?g|webp|gif)$/i;
/** Text and code files read as UTF-8 text. */
const TEXT_NAME = /\.(txt|md|markdown|csv|tsv|json|jsonl|ya?ml|toml|ini|xml|html?|css|scss|js|mjs|cjs|jsx|ts|tsx|py|rb|go|rs|java|kt|c|h|cc|cpp|hpp|cs|php|sh|bash|sql|r|swift|lua|pl|tex|log|vue|svelte)$/i;

const starts = (data: Buffer, bytes: number[], at = 0) => bytes.every((b, i) => data[at + i] === b);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

function imageType(data: Buffer): Sniffed | undefined {
  if (starts(data, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return { kind: 'image', mime: 'image/png' };
  if (starts(data, [0xff, 0xd8, 0xff])) return { kind: 'image', mime: 'image/jpeg' };
  if (starts(data, ascii('GIF87a')) || starts(data, ascii('GIF89a'))) return { kind: 'image', mime: 'image/gif' };
  if (starts(data, ascii('RIFF')) && starts(data, ascii('WEBP'), 8)) return { kind: 'image', mime: 'image/webp' };
  return undefined;
}

/** Bytes a text file is judged by: checked on the event loop, so bounded (a few milliseconds). */
const TEXT_SNIFF_BYTES = 1024 * 1024;

/** Valid UTF-8 with no NUL byte (in its first megabyte): what a text or code file is. */
function isText(whole: Buffer): boolean {
  const data = whole.subarray(0, TEXT_SNIFF_BYTES);
  if (data.includes(0)) return false;
  try {
    // stream: a character cut at the end of the slice is not an error.
    new TextDecoder('utf-8', { fatal: true }).decode(data, { stream: true });
    return true;
  } catch {
    return false;
  }
}

export function sniff(name: string, declared: string, data: Buffer): Sniffed {
  const image = imageType(data);
  if (IMAGE_NAME.test(name) || declared.startsWith('image/')) return image ?? { kind: 'refused', reason: 'not_image' };
  if (image) return image;
  const pdf = starts(data, ascii('%PDF-'));
  if (/\.pdf$/i.test(name) || declared === 'application/pdf') return pdf ? { kind: 'pdf' } : { kind: 'refused', reason: 'not_pdf' };
  if (pdf) return { kind: 'pdf' };
  if (/\.docx$/i.test(name)) return starts(data, [0x50, 0x4b, 0x03, 0x04]) ? { kind: 'docx' } : { kind: 'refused', reason: 'not_docx' };
  if (TEXT_NAME.test(name) || declared.startsWith('text/') || declared === 'application/json') return isText(data) ? { kind: 'text' } : { kind: 'refused', reason: 'binary' };
  return { kind: 'refused', reason: 'type' };
}

/** The declared uncompressed size of a ZIP's entries (a DOCX), read from its central directory; Infinity when it cannot be read. */
export function zipExpandedSize(data: Buffer): number {
  const from = Math.max(0, data.length - 65_557);
  const end = data.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < from || end + 22 > data.length) return Infinity;
  const entries = data.readUInt16LE(end + 10);
  let at = data.readUInt32LE(end + 16);
  let total = 0;
  for (let i = 0; i < entries; i++) {
    if (at + 46 > data.length || data.readUInt32LE(at) !== 0x02014b50) return Infinity;
    const size = data.readUInt32LE(at + 24);
    if (size === 0xffffffff) return Infinity; // ZIP64: larger than any document we take
    total += size;
    at += 46 + data.readUInt16LE(at + 28) + data.readUInt16LE(at + 30) + data.readUInt16LE(at + 32);
  }
  return total;
}
