/**
 * Where a streaming answer goes on between two renders. The page gets the answer so far rendered,
 * then each new piece as escaped text appended to an element until the next render (answer-writer.ts).
 * Appended to the message's container, a piece lands after the last block: the text of a code fence
 * still open jumped out of its code block, below it, until the next render put it back. So a render
 * made for streaming marks the spot where the answer goes on, an empty `<span id=…>` (the "tail"):
 * at the end of an open code fence's code or an open `$$` block's source, or at the end of the last
 * paragraph, heading or list item's text. After anything else (a closed fence, a table, a rule, a
 * blank line) the pieces start a new block, so they go after it, in the container, as before.
 */
import type MarkdownIt from 'markdown-it';

type Token = MarkdownIt.Token;

/** The render's environment: `tail` is the id to give the tail; `tailPlaced` says whether one was put. */
export interface StreamEnv {
  tail?: string;
  tailPlaced?: boolean;
}

/** The tail element for a block token marked by the rule below, in the renderer's env; '' if none. */
export function tailHtml(token: Token, env: StreamEnv | undefined): string {
  if (!token.meta?.tail || typeof env?.tail !== 'string') return '';
  return `<span id="${env.tail.replace(/[^\w-]/g, '')}"></span>`;
}

/** A fence whose closing line has not come yet: its last line is not a run of its marker, as long. */
function openFence(token: Token, lines: string[]): boolean {
  const [start, end] = token.map ?? [0, 0];
  if (end - 1 <= start) return true;
  const last = (lines[end - 1] ?? '').replace(/^[\s>]*/, '').trimEnd(); // a fence in a quote or a list
  const marker = token.markup[0] ?? '`';
  return !(last.length >= token.markup.length && [...last].every((c) => c === marker));
}

/** The last token that opens or is a block (closing tokens skipped), with its index. */
function lastBlock(tokens: Token[]): number {
  let i = tokens.length - 1;
  while (i >= 0 && tokens[i].nesting === -1) i--;
  return i;
}

/**
 * The tail at the end of a paragraph's text (a line break first when the answer ends with one), or
 * of a heading's while its line goes on; a blank line ends both.
 */
function inlineTail(state: MarkdownIt.StateCore, token: Token, opener: string): boolean {
  const newline = /\n[ \t]*$/.test(state.src);
  const goesOn = opener === 'paragraph_open' ? !/\n[ \t]*\n\s*$/.test(state.src) : opener === 'heading_open' && !newline;
  if (!goesOn) return false;
  const tail = new state.Token('stream_tail', '', 0);
  tail.meta = { tail: true, br: newline };
  (token.children ??= []).push(tail);
  return true;
}

function placeTail(state: MarkdownIt.StateCore): void {
  const env = state.env as StreamEnv;
  if (typeof env.tail !== 'string') return;
  const i = lastBlock(state.tokens);
  const token = state.tokens[i];
  if (!token) return;
  let placed = false;
  if (token.type === 'fence') placed = openFence(token, state.src.split('\n'));
  else if (token.type === 'math_block') placed = !(token.meta as { closed: boolean }).closed;
  else if (token.type === 'inline') placed = inlineTail(state, token, state.tokens[i - 1]?.type ?? '');
  if (placed && token.type !== 'inline') token.meta = { ...token.meta, tail: true };
  env.tailPlaced = placed;
}

/** Adds the tail to renders whose env names one (markdown-it's `md.use`). */
export function streamTail(md: MarkdownIt.MarkdownIt): void {
  md.core.ruler.push('stream_tail', placeTail);
  md.renderer.rules.stream_tail = (tokens, idx, _options, env) => (tokens[idx].meta?.br ? '<br>' : '') + tailHtml(tokens[idx], env as StreamEnv);
}
