/**
 * Renders chat messages (model output and user text) to inert HTML.
 *
 * Why these libraries rather than hand-written parsing:
 * - markdown-it: a CommonMark-compliant, linear-time parser with a token stream we can
 *   re-render rule by rule. With `html: false` it never passes raw HTML through (so
 *   `<script>`, `onerror=`, `hx-*` written by the model come out as escaped text), and it
 *   runs every link target through `validateLink`, which we tighten to an allowlist.
 * - highlight.js (core + a fixed set of languages): syntax colouring whose output is
 *   escaped text inside `<span class="hljs-…">` only. Auto-detection stays off: it is
 *   slow on long replies and guesses wrong; we highlight only when the fence names a
 *   language we registered.
 *
 * - KaTeX (markdown-math.ts): TeX between `$`, `$$`, `\(…\)` and `\[…\]` typeset as MathML.
 *
 * The output carries no scripts, event handlers, style attributes or htmx attributes.
 * Views should still wrap it in an element with `hx-ignore` (defence in depth).
 */
import MarkdownIt from 'markdown-it';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import css from 'highlight.js/lib/languages/css';
import diff from 'highlight.js/lib/languages/diff';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import markdown from 'highlight.js/lib/languages/markdown';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import shell from 'highlight.js/lib/languages/shell';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import { mathPlugin } from './markdown-math';
import { streamTail, tailHtml, type StreamEnv } from './markdown-stream';

type Token = MarkdownIt.Token;
type RenderRule = MarkdownIt.RendererRule;

// Registration also brings each language's aliases (ts, py, sh, html, yml, rs, …).
const LANGUAGES = {
  bash, c, cpp, css, diff, go, java, javascript, json, markdown, python, rust, shell, sql,
  typescript, xml, yaml,
};
for (const [name, language] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, language);

const md = new MarkdownIt({ html: false, linkify: true, typographer: false, breaks: true });
const { escapeHtml, unescapeAll } = md.utils;

// Only these schemes may become an href; anything else with a scheme is refused (the
// markdown source is then shown as text). Scheme-less targets are relative links.
const SAFE_SCHEMES = new Set(['http', 'https', 'mailto']);
const LINK_REL = 'noopener noreferrer nofollow';
// A fence's first word becomes a class and a label: keep it to a plain identifier.
const LANG_NAME = /^[A-Za-z0-9_+#.-]{1,32}$/;

function isSafeLink(url: string): boolean {
  let decoded = url;
  try {
    decoded = decodeURIComponent(url);
  } catch {
    // malformed %-escapes: judge the raw string
  }
  // Browsers drop tabs and newlines anywhere in a URL ("java\tscript:" runs) and control
  // characters in front of it; removing them all can only err towards refusing a link.
  const compact = decoded.replace(/[\p{Cc} ]/gu, '').toLowerCase(); // control characters (C0, DEL, C1) and space
  const scheme = /^([a-z][a-z0-9+.-]*):/.exec(compact);
  return scheme === null || SAFE_SCHEMES.has(scheme[1]);
}

function highlightCode(code: string, lang: string): string {
  if (lang && hljs.getLanguage(lang)) {
    return hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
  }
  return escapeHtml(code);
}

function codeBlock(code: string, lang: string, copyLabel: string, tail = ''): string {
  const label = escapeHtml(copyLabel);
  const langSpan = lang ? `<span class="code-lang">${escapeHtml(lang)}</span>` : '';
  const codeClass = lang ? `hljs language-${escapeHtml(lang)}` : 'hljs';
  return (
    `<div class="code-block"><div class="code-head">${langSpan}` +
    `<button type="button" class="copy-code" data-copy aria-label="${label}">${label}</button></div>` +
    `<pre><code class="${codeClass}">${highlightCode(code, lang)}${tail}</code></pre></div>\n`
  );
}

const fence: RenderRule = (tokens, idx, _options, env) => {
  const token = tokens[idx];
  const first = unescapeAll(token.info).trim().split(/\s+/)[0] ?? '';
  const lang = LANG_NAME.test(first) ? first : '';
  return codeBlock(token.content, lang, copyLabelOf(env), tailHtml(token, env as StreamEnv));
};

const codeBlockRule: RenderRule = (tokens, idx, _options, env) =>
  codeBlock(tokens[idx].content, '', copyLabelOf(env));

const linkOpen: RenderRule = (tokens, idx, options, _env, self) => {
  const token = tokens[idx];
  // Titles are dropped: they are model-written attribute text with no value to readers.
  token.attrs = (token.attrs ?? []).filter(([name]) => name === 'href');
  token.attrSet('target', '_blank');
  token.attrSet('rel', LINK_REL);
  return self.renderToken(tokens, idx, options);
};

// markdown-it aligns table cells with style="text-align:…"; the CSP blocks style
// attributes, so alignment becomes a class (styled in static/markdown.css).
const alignedCell: RenderRule = (tokens, idx, options, _env, self) => {
  const token = tokens[idx];
  const align = /^text-align:(left|center|right)$/.exec(String(token.attrGet('style') ?? ''));
  token.attrs = (token.attrs ?? []).filter(([name]) => name !== 'style');
  if (align) token.attrSet('class', `align-${align[1]}`);
  return self.renderToken(tokens, idx, options);
};

function insideLink(tokens: Token[], idx: number): boolean {
  let depth = 0;
  for (let i = 0; i < idx; i++) {
    if (tokens[i].type === 'link_open') depth++;
    else if (tokens[i].type === 'link_close') depth--;
  }
  return depth > 0;
}

// Remote images are never loaded (they would let the model's chosen server track readers):
// an image becomes a link whose text is the alt text.
const image: RenderRule = (tokens, idx, options, env, self) => {
  const token = tokens[idx];
  const src = String(token.attrGet('src') ?? '');
  const alt = escapeHtml(self.renderInlineAsText(token.children ?? [], options, env));
  if (insideLink(tokens, idx) || src === '') return alt;
  const text = alt || escapeHtml(src);
  return `<a href="${escapeHtml(src)}" target="_blank" rel="${LINK_REL}">${text}</a>`;
};

md.validateLink = isSafeLink;
md.use(mathPlugin);
md.use(streamTail);
md.renderer.rules.fence = fence;
md.renderer.rules.code_block = codeBlockRule;
md.renderer.rules.link_open = linkOpen;
md.renderer.rules.image = image;
md.renderer.rules.table_open = () => '<div class="table-wrap"><table>\n';
md.renderer.rules.table_close = () => '</table></div>\n';
md.renderer.rules.th_open = alignedCell;
md.renderer.rules.td_open = alignedCell;

function copyLabelOf(env: MarkdownIt.Env | undefined): string {
  return typeof env?.copyLabel === 'string' ? env.copyLabel : 'Copy';
}

/** Sanitised HTML for a completed assistant (or user) message. */
export function renderMarkdown(text: string, opts: { copyLabel?: string } = {}): string {
  return md.render(text, { copyLabel: opts.copyLabel ?? 'Copy' });
}

/**
 * The answer so far, rendered while it streams: with `tail`, the id of the element where the pieces
 * that follow go (markdown-stream.ts), and whether the render has it (else they go after the last block).
 */
export function renderStreaming(text: string, opts: { copyLabel: string; tail: string }): { html: string; tail: boolean } {
  const env = { copyLabel: opts.copyLabel, tail: opts.tail, streaming: true } as StreamEnv & MarkdownIt.Env;
  const html = md.render(text, env);
  return { html, tail: env.tailPlaced === true };
}

/** A streaming render's tokens (markdown-incremental.ts renders them in two parts: finished blocks, then the last). */
export function parseStreaming(text: string, env: StreamEnv & MarkdownIt.Env): Token[] {
  return md.parse(text, env);
}

/** HTML of some of a parse's tokens, in order: the renderer writes each token on its own. */
export function renderTokens(tokens: Token[], env: MarkdownIt.Env): string {
  return md.renderer.render(tokens, md.options, env);
}

/** Escaped text with line breaks kept, for streaming display and plain user messages. */
export function renderPlain(text: string): string {
  return escapeHtml(text).replace(/\r\n?|\n/g, '<br>');
}
