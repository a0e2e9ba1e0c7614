/**
 * A streaming answer rendered again and again as it grows, without starting from its beginning each
 * time. Rendering the whole answer on every render made its cost grow with the answer (a 16 KB
 * answer took milliseconds a render, most of it highlighting code blocks long finished).
 *
 * Why this gives the same HTML as rendering the whole answer (renderStreaming): an answer only grows
 * at its end, and text added at the end changes no top-level block that a blank line separates from
 * a later one, lists apart. The last block may still become something else (a paragraph turns into a
 * table or a setext heading, a fence is open, a `$$` block turns back into text), and without a
 * blank line the text it turns into could go on the block above it; after a blank line it cannot,
 * unless the block above is a list (finishedUpTo). So
 * each render parses only the text from the start of the blocks not yet finished, renders the
 * finished ones once (their HTML is kept), and the rest. markdown-it's renderer writes each token on
 * its own, so the two parts joined are the whole render. The one exception is a link reference
 * definition (`[id]: url`), which changes links anywhere in the text, above it too: an answer with
 * one is rendered whole from then on, as before.
 */
import type MarkdownIt from 'markdown-it';
import type { StreamEnv } from './markdown-stream';
import { parseStreaming, renderStreaming, renderTokens } from './markdown';

type Token = MarkdownIt.Token;

/** Where each line starts in `text`, counting line breaks as markdown-it does (\r\n, \r, \n). */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (const m of text.matchAll(/\r\n|\r|\n/g)) starts.push(m.index + m[0].length);
  return starts;
}

const LISTS = new Set(['bullet_list_open', 'ordered_list_open']);

/**
 * Where the finished blocks end: the token that opens the last top-level block with a blank line
 * before it and no list just above it, and where that block starts in `text`; none (index 0) when
 * only the first block qualifies. The last block can still turn into something else as its line goes
 * on (a `$$` block never closed before a blank line turns back into text, `- - -` is a rule until
 * `- - - x` makes it a list item), and what it turns into could go on the block above it: a
 * paragraph's or a quote's lazy line unless a blank line ended that block, a list's next item even then.
 */
function finishedUpTo(tokens: Token[], text: string): { index: number; at: number } {
  const opens: number[] = [];
  tokens.forEach((t, i) => t.level === 0 && t.nesting !== -1 && t.map && opens.push(i));
  let starts: number[] | undefined;
  for (let k = opens.length - 1; k > 0; k--) {
    if (LISTS.has(tokens[opens[k - 1]!]!.type)) continue;
    const line = tokens[opens[k]!]!.map![0];
    starts ??= lineStarts(text);
    if (line > 0 && /^[ \t]*(?:\r\n|\r|\n)$/.test(text.slice(starts[line - 1], starts[line]))) return { index: opens[k]!, at: starts[line]! };
  }
  return { index: 0, at: 0 };
}

/** One streaming answer's renders; `render` must be given the answer growing at its end only. */
export class StreamingMarkdown {
  /** The HTML of the finished blocks, and how much of the answer they cover. */
  private doneHtml = '';
  private doneAt = 0;
  private whole = false;

  constructor(private readonly opts: { copyLabel: string; tail: string }) {}

  /** The answer so far as renderStreaming renders it whole: the HTML, and whether it has the tail. */
  render(text: string): { html: string; tail: boolean } {
    if (this.whole) return renderStreaming(text, this.opts);
    const env: StreamEnv & MarkdownIt.Env = { copyLabel: this.opts.copyLabel, tail: this.opts.tail, streaming: true };
    const rest = text.slice(this.doneAt);
    const tokens = parseStreaming(rest, env);
    if (env.references !== undefined) {
      this.whole = true; // a link reference definition: it may change what was rendered above it
      return renderStreaming(text, this.opts);
    }
    const done = finishedUpTo(tokens, rest);
    if (done.index > 0) {
      this.doneHtml += renderTokens(tokens.splice(0, done.index), env);
      this.doneAt += done.at;
    }
    const html = this.doneHtml + renderTokens(tokens, env);
    return { html, tail: env.tailPlaced === true };
  }
}
