// An answer being written, sent to a page as it grows: each piece at once, escaped, and the
// answer so far rendered as markdown (as the finished message will be) at most every
// MARKDOWN_EVERY_MS, and that long after a pause, so it reads as it will stay and the finished
// message does not jump. A lone piece is never held back for a render. Pieces go where the last
// render says the answer goes on (inside a code block still open, say: markdown-stream.ts). With a
// meter, each render also says what the answer so far costs (what Stop would charge): the pieces
// between renders only carry the counter's running total, so the cost adds no work per piece.
import { formatNumber, type Translate } from '../i18n';
import { priceOf, type ModelInfo } from '../metering/models';
import { StreamingMarkdown } from './markdown-incremental';
import { partial, type EventStream } from './sse';
import { escapeText } from './views';

/** What an answer's cost so far is worked out from: the model at the user's price and the prompt as held. */
export interface Meter {
  model: Pick<ModelInfo, 'promptRate' | 'completionRate'>;
  promptTokens: number;
}

/** The running cost in the reader's words: the completion tokens so far and the charge with the prompt. */
export type CostWords = (tokens: number, charge: number) => string;

export function costWords(t: Translate, locale: string): CostWords {
  return (tokens, charge) => t('chat.running_cost', { tokens: formatNumber(tokens, locale), cost: formatNumber(charge, locale) });
}

/** How often a streaming answer is sent again whole, rendered as markdown. */
const MARKDOWN_EVERY_MS = 250;

export class AnswerWriter {
  private answer = '';
  private renderedAt = 0;
  /** A render of the pieces sent since the last one, when no new piece brings it sooner. */
  private trailing?: NodeJS.Timeout;
  /** The answer's completion tokens so far, counted when a render asks (not on every piece). */
  private tokens: () => number = () => 0;
  private costShown = 0;
  private cost?: (tokens: number) => string;
  /** Pieces go into the last render's tail (in a code block still open, say: markdown-stream.ts), when it has one. */
  private tail = false;
  /** The answer's renders, each from where its finished blocks end (markdown-incremental.ts). */
  private markdown: StreamingMarkdown;

  /**
   * `later` runs the trailing render: at once by default; a caller whose own writes are queued
   * puts it in its queue, and the render is skipped if it was cancelled meanwhile.
   */
  constructor(
    private readonly stream: Pick<EventStream, 'open' | 'html'>,
    private readonly messageId: number,
    private readonly copyLabel: string,
    private readonly later: (render: () => void) => void = (render) => render(),
  ) {
    this.markdown = this.freshMarkdown();
  }

  private freshMarkdown(): StreamingMarkdown {
    return new StreamingMarkdown({ copyLabel: this.copyLabel, tail: `m${this.messageId}-tail` });
  }

  /**
   * How long between two renders: MARKDOWN_EVERY_MS, and longer as the answer grows (each render
   * sends the whole answer's HTML again, though it renders only what is new), about a second at 32 KB.
   */
  private every(): number {
    return Math.max(MARKDOWN_EVERY_MS, this.answer.length / 32);
  }

  /** The answer so far. */
  get text(): string {
    return this.answer;
  }

  /** The answer so far is `text`: sent rendered now (a page coming back to it); pieces follow. */
  reset(text: string): void {
    this.answer = text;
    this.markdown = this.freshMarkdown();
    this.render();
  }

  /** The answer so far is `text`, already shown: the next pieces go out as they come, the next render follows. */
  started(text = ''): void {
    this.answer = text;
    this.markdown = this.freshMarkdown();
    this.renderedAt = Date.now();
  }

  /** The cost so far is sent with each render from now on. */
  metered(meter: Meter, words: CostWords, tokens = 0): void {
    this.tokens = () => tokens;
    this.costShown = 0;
    this.cost = (n) => words(n, priceOf(meter.model, meter.promptTokens, n));
  }

  /** The cost so far as a frame (for a page joining), or '' before any token or without a meter. */
  costFrame(tokens = this.tokens()): string {
    return this.cost && tokens > 0 ? partial(`#m${this.messageId}-cost`, 'innerHTML', escapeText(this.cost(tokens))) : '';
  }

  /** `tokens`: the answer's completion tokens with this piece, counted when the next render asks. */
  piece(text: string, tokens?: () => number): void {
    this.answer += text;
    if (tokens !== undefined) this.tokens = tokens;
    if (Date.now() - this.renderedAt >= this.every()) return this.render();
    if (this.stream.open) this.stream.html(partial(`#m${this.messageId}-${this.tail ? 'tail' : 'text'}`, 'beforeend', escapeText(text)));
    this.trailing ??= setTimeout(() => this.later(() => this.trailing !== undefined && this.render()), this.every());
  }

  /** No render is due any more (the answer ended, or one is being sent). */
  cancel(): void {
    clearTimeout(this.trailing);
    this.trailing = undefined;
  }

  private render(): void {
    this.cancel();
    this.renderedAt = Date.now();
    if (!this.stream.open) return;
    const tokens = this.tokens();
    const cost = tokens !== this.costShown ? this.costFrame(tokens) : '';
    if (cost) this.costShown = tokens;
    const { html, tail } = this.rendered();
    this.tail = tail;
    this.stream.html(html + cost);
  }

  /** The answer so far rendered into its element, and whether the render has a tail for the pieces. */
  private rendered(): { html: string; tail: boolean } {
    const { html, tail } = this.markdown.render(this.answer);
    return { html: partial(`#m${this.messageId}-text`, 'innerHTML', html), tail };
  }

  /**
   * A page joins (answer-feeds.ts): it is sent the answer so far and its cost by `send`. When the
   * answer's tail moved since the last render, every page gets that render, as the next pieces go there.
   */
  joined(send: (frame: string) => void): void {
    const { html, tail } = this.rendered();
    if (tail === this.tail) return send(html + this.costFrame());
    this.cancel();
    this.renderedAt = Date.now();
    this.tail = tail;
    if (this.stream.open) this.stream.html(html + this.costFrame());
  }
}
