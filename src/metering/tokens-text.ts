// Plain-text token counting with tiktoken that never blocks the event loop for long.
//
// tiktoken's BPE is quadratic in the length of one pre-token (200 KB of "a" takes tens of
// seconds), so text reaches it in pieces of at most MAX_PIECE characters. A piece ends where the
// pre-tokenizers of both cl100k_base and o200k_base must split whatever the surrounding text is
// (isBoundary), so the pieces' counts add up to exactly the count of the whole. Only a stretch of
// MAX_PIECE characters with no such boundary (a run of one letter, CJK with no punctuation) is cut
// blindly, and the count becomes an estimate, usually a token or so high per cut.
// Long texts are counted on a worker thread (count-pool.ts), short ones here.
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Tiktoken } from 'tiktoken';
import { countInWorker } from './count-pool';

import { ENCODINGS, type EncodingName } from './encodings';

export { ENCODINGS, type EncodingName } from './encodings';

/** Longest text handed to tiktoken in one piece: 256 CJK characters encode in about 0.2 ms. */
export const MAX_PIECE = 256;
/** Whole pieces are encoded together up to this length: fewer calls into WASM, still ~1 ms each. */
const BATCH = 4096;
/** Counting work done between two yields to the event loop. */
const SLICE_MS = 5;
/**
 * Texts at least this long are sent to a worker thread: 16 KiB take 4-35 ms to count (English to
 * CJK with no punctuation), a round trip to the worker a fraction of a millisecond.
 */
export const WORKER_MIN_CHARS = 16 * 1024;

const encoders = new Map<EncodingName, Tiktoken>();

/**
 * tiktoken, loaded with the first encoding: its WebAssembly compiles for about 65 ms, which no CLI
 * command but `tokens` needs (the server makes its encodings at start: loadEncodings).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when first needed, synchronously
const tiktoken = () => require('tiktoken') as typeof import('tiktoken');

/** Creating an encoding blocks for ~100 ms, so each is made once per process and never freed. */
export function encoder(name: EncodingName): Tiktoken {
  const key = ENCODINGS.includes(name) ? name : 'o200k_base';
  let enc = encoders.get(key);
  if (!enc) {
    enc = tiktoken().get_encoding(key);
    encoders.set(key, enc);
  }
  return enc;
}

/** Call at start-up so that the first request does not pay for creating the encodings. */
export function loadEncodings(names: readonly EncodingName[] = ENCODINGS): void {
  for (const name of names) encoder(name);
}

const OTHER = 0, LETTER = 1, NUMBER = 2, MARK = 3, SPACE = 4;
const IS_LETTER = /\p{L}/u, IS_NUMBER = /\p{N}/u, IS_MARK = /\p{M}/u, IS_SPACE = /\p{White_Space}/u;

// The classes the pre-tokenizer patterns use: \p{L}, \p{N}, \p{M} and \s (Unicode White_Space).
function classOf(cp: number): number {
  if (cp < 0x80) {
    const lower = cp | 0x20;
    if (lower >= 0x61 && lower <= 0x7a) return LETTER;
    if (cp >= 0x30 && cp <= 0x39) return NUMBER;
    return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d) ? SPACE : OTHER;
  }
  const ch = String.fromCodePoint(cp);
  if (IS_LETTER.test(ch)) return LETTER;
  if (IS_NUMBER.test(ch)) return NUMBER;
  if (IS_MARK.test(ch)) return MARK;
  return IS_SPACE.test(ch) ? SPACE : OTHER;
}

const isHigh = (unit: number) => unit >= 0xd800 && unit <= 0xdbff;
const isLow = (unit: number) => unit >= 0xdc00 && unit <= 0xdfff;

function codePointBefore(text: string, b: number): number {
  const unit = text.charCodeAt(b - 1);
  return isLow(unit) && b >= 2 && isHigh(text.charCodeAt(b - 2)) ? text.codePointAt(b - 2)! : unit;
}

/**
 * Whether both pre-tokenizers split `text` before index `b` whatever precedes or follows the
 * characters looked at, so that counting text[0, b) and text[b, end) apart gives the same total.
 * Read off the cl100k_base and o200k_base patterns (and checked against tiktoken by fuzzing):
 *  - a whitespace other than CR/LF followed by a non-space starts a token (" word", " 1", "\t!");
 *  - a letter followed by anything but a letter, a mark or an apostrophe ends one (o200k keeps
 *    marks and contractions like "'t" with the letters);
 *  - digits come in their own tokens, so a digit/non-digit change is a split, except after
 *    whitespace, whose run may still grow or shrink with what precedes it.
 */
export function isBoundary(text: string, b: number): boolean {
  if (b <= 0 || b >= text.length) return false;
  const unit = text.charCodeAt(b);
  if (isLow(unit) || (isHigh(unit) && b + 1 >= text.length)) return false; // inside a surrogate pair
  const c = text.codePointAt(b)!;
  const cc = classOf(c);
  const pc = classOf(codePointBefore(text, b));
  if (cc === SPACE && c !== 0x0a && c !== 0x0d && b + 1 < text.length && classOf(text.codePointAt(b + 1)!) !== SPACE) {
    return true;
  }
  if (pc === LETTER && cc !== LETTER && cc !== MARK && c !== 0x27) return true;
  if (pc === NUMBER) return cc !== NUMBER;
  return cc === NUMBER && pc !== SPACE;
}

/** The last boundary in (from, to], or -1. */
export function lastBoundary(text: string, from: number, to: number): number {
  for (let b = Math.min(to, text.length - 1); b > from; b--) if (isBoundary(text, b)) return b;
  return -1;
}

/** A blind cut near `at` that keeps surrogate pairs whole. */
export function cutPoint(text: string, at: number): number {
  return isLow(text.charCodeAt(at)) && isHigh(text.charCodeAt(at - 1)) ? at - 1 : at;
}

/** End of the next stretch to encode in one call: whole pieces up to BATCH characters, or one cut piece. */
function batchEnd(text: string, pos: number): number {
  let end = pos;
  while (end < text.length && end - pos < BATCH) {
    if (text.length - end <= MAX_PIECE) return text.length;
    const b = lastBoundary(text, end, end + MAX_PIECE);
    if (b < 0) return end > pos ? end : cutPoint(text, end + MAX_PIECE);
    end = b;
  }
  return end;
}

/** The stretches of `text` tiktoken is given, one call each. */
function* batches(text: string): Generator<string> {
  for (let pos = 0; pos < text.length; ) {
    const end = batchEnd(text, pos);
    yield text.slice(pos, end);
    pos = end;
  }
}

/** Counts a string at once; for short strings (up to a few KB), where yielding costs more than it saves. */
export function countTextSync(text: string, encoding: EncodingName): number {
  if (typeof text !== 'string') return 0;
  const enc = encoder(encoding);
  let tokens = 0;
  for (const batch of batches(text)) tokens += enc.encode_ordinary(batch).length;
  return tokens;
}

/** A time budget shared by all the counting one request does, renewed after each yield. */
export class Slice {
  private started = performance.now();

  async pace(): Promise<void> {
    if (performance.now() - this.started < SLICE_MS) return;
    await nextTurn();
    this.started = performance.now();
  }
}

/**
 * Counts a string of any length without holding the event loop: a long one on a worker thread,
 * a short one (or a long one when no worker can count) here, yielding every few milliseconds.
 */
export async function countText(text: string, encoding: EncodingName, slice = new Slice()): Promise<number> {
  if (typeof text !== 'string') return 0;
  if (text.length >= WORKER_MIN_CHARS) {
    const tokens = await countInWorker(text, ENCODINGS.includes(encoding) ? encoding : 'o200k_base');
    if (tokens !== undefined) return tokens;
  }
  return countInSlices(text, encoding, slice);
}

async function countInSlices(text: string, encoding: EncodingName, slice: Slice): Promise<number> {
  const enc = encoder(encoding);
  let tokens = 0;
  for (const batch of batches(text)) {
    tokens += enc.encode_ordinary(batch).length;
    await slice.pace();
  }
  return tokens;
}

/**
 * The local count of a completion streamed as text deltas, for charging a stream that reports no
 * usage. Deltas split tokens, so the text is counted as a whole: the part before the last boundary
 * is counted for good and only the tail after it is re-counted. Text is counted when the count is
 * asked for (a render, a second's record, the end), not on every push: a push only keeps the text,
 * and `pushWithin` counts only when the text could have reached its limit.
 */
export class CompletionCounter {
  private parts: string[] = [];
  /** Pushed since the count was last asked for, not counted yet. */
  private pending = '';
  private tail = '';
  private settledTokens = 0;
  private tailTokens = 0;
  private readonly enc: Tiktoken;

  constructor(readonly encoding: EncodingName) {
    this.enc = encoder(encoding);
  }

  push(delta: string): void {
    if (typeof delta !== 'string' || delta === '') return;
    this.parts.push(delta);
    this.pending += delta;
  }

  /** Counts what was pushed since the last count: up to its last boundary for good, the rest as the tail. */
  private count(): void {
    if (this.pending === '') return;
    let tail = this.tail + this.pending;
    this.pending = '';
    const end = lastBoundary(tail, 0, tail.length - 1);
    if (end > 0) {
      this.settledTokens += countTextSync(tail.slice(0, end), this.encoding);
      tail = tail.slice(end);
    }
    // No boundary in what is left: cut blindly, as countTextSync does, so that no piece grows past MAX_PIECE.
    while (tail.length > MAX_PIECE) {
      const cut = cutPoint(tail, MAX_PIECE);
      this.settledTokens += this.enc.encode_ordinary(tail.slice(0, cut)).length;
      tail = tail.slice(cut);
    }
    this.tail = tail;
    this.tailTokens = this.enc.encode_ordinary(tail).length;
  }

  get tokens(): number {
    this.count();
    return this.settledTokens + this.tailTokens;
  }

  /**
   * The most the count can be, without counting: a token is at least one UTF-8 byte, and a UTF-16
   * code unit at most three of them. The tail is bounded the same way, not by its count: text
   * joined to it may be split into more tokens than the two apart.
   */
  private get most(): number {
    return this.settledTokens + 3 * (this.tail.length + this.pending.length);
  }

  /**
   * Adds as much of `delta` as keeps the count within `limit` and returns the part added, so an
   * answer is cut at what its hold pays for before the cut part is shown. A delta past the limit
   * is cut at a token boundary (its first 64 KiB are looked at: a longer one is hostile).
   */
  pushWithin(delta: string, limit: number): string {
    if (typeof delta !== 'string' || delta === '') return '';
    if (this.most + 3 * delta.length <= limit) {
      this.push(delta);
      return delta;
    }
    this.count();
    const saved = { parts: this.parts.length, tail: this.tail, settled: this.settledTokens, tailTokens: this.tailTokens };
    this.push(delta);
    if (this.tokens <= limit) return delta;
    const restore = () => {
      this.parts.length = saved.parts;
      Object.assign(this, { tail: saved.tail, settledTokens: saved.settled, tailTokens: saved.tailTokens });
    };
    restore();
    const probe = this.tail + delta.slice(0, 65_536);
    const room = Math.max(0, limit - this.settledTokens);
    let text = new TextDecoder().decode(this.enc.decode(this.enc.encode_ordinary(probe).slice(0, room)));
    // A token may end inside a character: its bytes decode to U+FFFD, which the delta does not have.
    while (text && !probe.startsWith(text)) text = text.slice(0, -1);
    const part = text.length > this.tail.length ? text.slice(this.tail.length) : '';
    this.push(part);
    if (this.tokens <= limit) return part;
    restore(); // the pieces counted a little differently: show nothing more rather than too much
    return '';
  }

  /** The completion so far (joined lazily: appending to one long string would copy it on every push). */
  get text(): string {
    if (this.parts.length > 1) this.parts = [this.parts.join('')];
    return this.parts[0] ?? '';
  }
}
