/**
 * TeX in chat messages: `$…$` and `\(…\)` inline, `$$…$$` and `\[…\]` displayed, typeset on the
 * server by KaTeX as MathML (Chromium, Firefox and Safari lay MathML out natively; screen readers
 * read it). Why MathML only: KaTeX's HTML output positions every glyph with style attributes, which
 * our CSP (no 'unsafe-inline') drops, so it would come out scrambled.
 *
 * Why our own rules on katex rather than a markdown-it plugin: the maintained plugins pin KaTeX
 * 0.16 and markdown-it 14 (we run 15), none takes all four delimiters with the dollar rule below,
 * and their error output carries a style attribute. The rules are small and tested.
 *
 * Dollars in prose stay dollars ("it costs $5 and $10"): an inline `$` opens only before a
 * non-space, closes only after a non-space and not before a digit (pandoc's rule), and only the
 * first `$` after the opening one is tried. Invalid TeX is shown as its source, styled as an error;
 * nothing here throws. A `$$` block still open at the end (an answer streaming, or cut short) is
 * its source until it closes.
 */
import katex from 'katex';
import type MarkdownIt from 'markdown-it';
import { tailHtml, type StreamEnv } from './markdown-stream';

type StateInline = MarkdownIt.StateInline;
type StateBlock = MarkdownIt.StateBlock;

/** Longer TeX is not typeset (shown as source): KaTeX's time grows with it, and no formula needs it. */
const MAX_TEX = 4000;
// An answer is rendered again every quarter second while it streams: its formulas are typeset once.
// Kept: the most recent, up to this many characters of TeX and MathML together.
const CACHE_CHARS = 4_000_000;
const cache = new Map<string, string | null>();
let cachedChars = 0;

function keep(key: string, html: string | null): void {
  cache.set(key, html);
  cachedChars += key.length + (html?.length ?? 0);
  for (const [old, oldHtml] of cache) {
    if (cachedChars <= CACHE_CHARS) break;
    cache.delete(old);
    cachedChars -= old.length + (oldHtml?.length ?? 0);
  }
}

// TeX that defines macros is refused (shown as source): a few nested definitions expand into
// megabytes of MathML and seconds of work (10 x 10 x 1,000 symbols in 150 characters), and KaTeX's
// maxExpand counts expansions, not what they make. Each name expands to one that is undefined.
const NO_DEFINITIONS = Object.fromEntries(['def', 'gdef', 'edef', 'xdef', 'let', 'futurelet', 'global', 'long', 'newcommand', 'renewcommand', 'providecommand']
  .map((name) => [`\\${name}`, '\\macroDefinitionsAreOff']));
const OPTIONS = { output: 'mathml', throwOnError: true, strict: 'ignore', trust: false, maxSize: 20, maxExpand: 1000 } as const;
/** Output past this is not shown (the source is) nor kept. */
const MAX_HTML = 100_000;
// Defence in depth: with trust off KaTeX writes none of these, and it never may.
const LIVE_ATTRIBUTE = /\s(on[a-z]+|style|href|src|hx-[\w:-]*|data-[\w:-]*)\s*=/i;

/** KaTeX's MathML for `tex`, or null when it is not valid TeX (or too long). */
export function typeset(tex: string, display: boolean): string | null {
  if (tex.length > MAX_TEX) return null;
  const key = (display ? 'D' : 'I') + tex;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  let html: string | null;
  try {
    // A fresh macros table each time: KaTeX writes \gdef's into the one it is given.
    html = katex.renderToString(tex, { ...OPTIONS, macros: { ...NO_DEFINITIONS }, displayMode: display });
    if (html.length > MAX_HTML || LIVE_ATTRIBUTE.test(html)) html = null;
  } catch {
    html = null; // a ParseError, or anything else KaTeX throws: the source is shown instead
  }
  keep(key, html);
  return html;
}

const DELIMITERS: [open: string, close: string, display: boolean][] = [
  ['$$', '$$', true], ['$', '$', false], ['\\(', '\\)', false], ['\\[', '\\]', true],
];
const SPACE = /\s/;
const DIGIT = /[0-9]/;

// Scans that found no end, kept per parse so that a long answer full of openers that never close
// (`\(` ten thousand times) is read once, not once per opener.
const inlineMisses = new WeakMap<StateInline, Map<string, number>>();
const blockScans = new WeakMap<StateBlock, { close: string; endLine: number; from: number; stop: number; end: BlockEnd }>();

/** Where `close` ends the TeX begun at `from` (a `\`-escaped character skipped), or -1. */
function closing(state: StateInline, from: number, close: string): number {
  const { src, posMax } = state;
  const misses = inlineMisses.get(state) ?? new Map<string, number>();
  inlineMisses.set(state, misses);
  const key = `${close} ${posMax}`;
  if (from >= (misses.get(key) ?? Infinity)) return -1;
  for (let i = from; i < posMax; i++) {
    if (src.startsWith(close, i)) return i;
    if (src[i] === '\\' && close.startsWith('$')) i++; // \$ is a dollar sign in TeX
  }
  misses.set(key, from);
  return -1;
}

function mathInline(state: StateInline, silent: boolean): boolean {
  const { src, pos } = state;
  const found = DELIMITERS.find(([open]) => src.startsWith(open, pos));
  if (!found) return false;
  const [open, close, display] = found;
  const from = pos + open.length;
  const end = closing(state, from, close);
  if (end <= from) return false;
  if (open === '$' && (SPACE.test(src[from]) || SPACE.test(src[end - 1]) || DIGIT.test(src[end + 1] ?? ''))) return false;
  if (!silent) {
    const token = state.push(display ? 'math_inline_display' : 'math_inline', 'math', 0);
    token.content = src.slice(from, end);
    token.markup = open;
  }
  state.pos = end + close.length;
  return true;
}

/** A block's last line and whether it closes the block (else the block runs to the end); null: a blank line came first. */
type BlockEnd = { last: number; closed: boolean } | null;

const lineText = (state: StateBlock, line: number) => state.src.slice(state.bMarks[line] + state.tShift[line], state.eMarks[line]).trimEnd();

/** Where a block opened at `startLine` ends: the first line after it that ends in `close`, is blank or is outdented. */
function blockEnd(state: StateBlock, startLine: number, endLine: number, close: string): BlockEnd {
  const memo = blockScans.get(state);
  // Every line between a scan's start and its stop is neither: a later start in between stops there too.
  if (memo && memo.close === close && memo.endLine === endLine && memo.from < startLine && startLine < memo.stop) return memo.end;
  let stop = startLine + 1;
  let end: BlockEnd = { last: endLine - 1, closed: false };
  for (; stop < endLine; stop++) {
    const text = lineText(state, stop);
    if (text === '' || state.sCount[stop] < state.blkIndent) { end = null; break; } // TeX has no blank line in a formula
    if (text.endsWith(close)) { end = { last: stop, closed: true }; break; }
  }
  blockScans.set(state, { close, endLine, from: startLine, stop, end });
  return end;
}

/** A displayed formula on lines of its own: `$$` or `\[` at a line's start, to the line ending in `$$` or `\]`. */
function mathBlock(state: StateBlock, startLine: number, endLine: number, silent: boolean): boolean {
  if (state.sCount[startLine] - state.blkIndent >= 4) return false;
  const first = lineText(state, startLine);
  const [open, close] = first.startsWith('$$') ? ['$$', '$$'] : first.startsWith('\\[') ? ['\\[', '\\]'] : [];
  if (!open || !close) return false;
  const rest = first.slice(open.length);
  const oneLine = rest.length >= close.length && rest.endsWith(close);
  // `$$a$$ and more` is inline math in a paragraph, not a block.
  if (!oneLine && rest.includes(close)) return false;
  const end = oneLine ? { last: startLine, closed: true } : blockEnd(state, startLine, endLine, close);
  if (!end) return false;
  if (silent) return true;
  const lines = [rest];
  for (let line = startLine + 1; line <= end.last; line++) lines.push(lineText(state, line));
  const text = lines.join('\n');
  const token = state.push('math_block', 'math', 0);
  token.content = (end.closed ? text.slice(0, -close.length) : text).trim();
  token.markup = open;
  token.meta = { closed: end.closed, source: state.getLines(startLine, end.last + 1, state.blkIndent, false) };
  token.map = [startLine, end.last + 1];
  token.block = true;
  state.line = end.last + 1;
  return true;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };
const escapeHtml = (text: string): string => text.replace(/[&<>"]/g, (c) => ESCAPES[c]!);

function inlineRule(display: boolean): MarkdownIt.RendererRule {
  return (tokens, idx) => {
    const { content, markup } = tokens[idx];
    const html = typeset(content, display);
    if (html !== null) return display ? `<span class="math-display">${html}</span>` : html;
    const close = markup === '\\(' ? '\\)' : markup === '\\[' ? '\\]' : markup;
    return `<code class="math-error">${escapeHtml(markup + content + close)}</code>`;
  };
}

const blockRule: MarkdownIt.RendererRule = (tokens, idx, _options, env) => {
  const token = tokens[idx];
  const { closed, source } = token.meta as { closed: boolean; source: string };
  const html = closed ? typeset(token.content, true) : null;
  if (html !== null) return `<div class="math-display">${html}</div>\n`;
  // Still being written (the answer streams), or never closed / not valid TeX: its source.
  const pending = !closed && env?.streaming === true;
  return `<pre class="${pending ? 'math-pending' : 'math-error'}">${escapeHtml(source)}${tailHtml(token, env as StreamEnv)}</pre>\n`;
};

/** Adds the TeX rules to `md`: inline before the backslash escapes (which would eat `\(`), blocks before fences. */
export function mathPlugin(md: MarkdownIt.MarkdownIt): void {
  md.inline.ruler.before('escape', 'math_inline', mathInline);
  md.block.ruler.before('fence', 'math_block', mathBlock, { alt: ['paragraph', 'reference', 'blockquote', 'list'] });
  md.renderer.rules.math_inline = inlineRule(false);
  md.renderer.rules.math_inline_display = inlineRule(true);
  md.renderer.rules.math_block = blockRule;
}
