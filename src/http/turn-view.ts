// How a turn looks on the page while it runs: its events as SSE messages for htmx (routes/turns.ts
// runs the turn), and the words for a refusal.
import type { Response } from 'express';
import type { Eta } from 'eta';
import type { Conversation, Message } from '../chat/conversations';
import { formatNumber, type Translate } from '../i18n';
import type { Store } from '../storage/op';
import type { Refusal, TurnEvent, TurnResult } from '../chat/turn';
import { walletOf, type Wallet } from '../ledger/buckets';
import { AnswerWriter, costWords } from './answer-writer';
import { balanceBadge } from './balance-badge';
import { orgRefusalText } from './org-limit-text';
import { EventStream, partial } from './sse';
import { escapeText } from './views';
import { errorText, messageView, newTurnKey, threadWithFiles, transcriptOf } from './routes/chat-view';

export function refusalText(refusal: Refusal, t: Translate): string {
  switch (refusal.reason) {
    case 'insufficient':
      return t('chat.refused.insufficient', { missing: refusal.missing, balance: refusal.balance, least: refusal.least });
    case 'per_message':
    case 'per_day':
      return t(`limits.refused.${refusal.reason}`, { limit: refusal.limit, spent: refusal.spent, estimate: refusal.estimate });
    case 'org':
      return orgRefusalText(refusal.refusal, t);
    default:
      return t(`chat.refused.${refusal.reason}`);
  }
}

/**
 * What a screen reader hears when an answer ends: how it ended, its tokens and its charge, short.
 * The answer itself is read where it is, rendered, in the transcript (never its raw markdown here).
 */
export function endedText(m: Message, t: Translate, locale: string): string {
  const n = (v: number | null) => formatNumber(Number(v ?? 0), locale);
  const figures = { tokens: n(m.completionTokens), charge: n(m.charge) };
  if (m.status === 'done') return t('chat.announce.done', figures);
  if (m.status === 'stopped') return t('chat.announce.stopped', figures);
  return t('chat.announce.error', { ...figures, error: m.error ? errorText(m.error, t) : t('chat.answer_failed') });
}

/**
 * What a page shows when an answer ends, besides the finished message: the announcement, the
 * conversation's own entry in the sidebar (no longer answering; the rest of the list is the page's
 * own, and is neither read nor sent again) and the header's balance. The turn's own page and every page following the answer (routes/turns.ts) are sent the
 * same; `wallet` (read here when not given) must be read after the settle, or it still has the
 * whole hold taken. `render` renders a partial with the page's locals.
 */
export async function answerEnded(
  store: Store, conversation: Conversation, message: Message, wallet: Wallet | undefined, t: Translate, locale: string,
  render: (name: string, data: Record<string, unknown>) => string,
): Promise<string> {
  const entry = render('conversation-item', { c: { ...conversation, answering: 0 }, current: conversation });
  return partial('#announcer', 'innerHTML', escapeText(endedText(message, t, locale))) +
    partial(`#conversation-${conversation.id}`, 'outerHTML', entry) +
    partial('#balance', 'innerHTML', escapeText(balanceBadge(t, locale, wallet ?? await store.read(walletOf, conversation.userId, new Date()))));
}

/**
 * A turn refused because its conversation changed under it, after its hold was taken (and
 * released): the conversation as it is now, the notice in it, and a new turn key for the composer
 * (the refused one is spent; the redrawn messages' forms have new ones too). `render` renders a
 * partial with the page's locals.
 */
export async function changedConversation(
  store: Store, conversationId: number, t: Translate, notice: string, render: (name: string, data: Record<string, unknown>) => string,
): Promise<string> {
  const messages = await transcriptOf(store, conversationId, t);
  return partial('#transcript', 'innerHTML', render('../pages/transcript', { messages, notice, fullPage: false })) +
    partial('#turn-key', 'outerHTML', render('turn-key', { turnKey: newTurnKey() }));
}

/**
 * Turns a turn's events into SSE messages for htmx (or nothing, for a plain POST). Showing the
 * start reads the database, so events are shown one after another in order, and finish() waits
 * for them; a failure to show one is thrown by finish().
 */
export class TurnView {
  private stream?: EventStream;
  /** The answer's versions (Retry makes several), for its message once it ends. */
  private versions?: number[];
  private writer?: AnswerWriter;
  private shown: Promise<void> = Promise.resolve();
  /** Nothing is queued: a piece can go out at once, without a promise of its own. */
  private idle = true;
  private failed?: { err: unknown };

  constructor(
    private readonly eta: Eta,
    private readonly res: Response,
    private readonly t: Translate,
    private readonly htmx: boolean,
    private readonly store: Store,
  ) {
    // Making a CSRF token may set its cookie, which cannot happen once the stream has started.
    const token: string = res.locals.csrfToken();
    this.csrfToken = () => token;
  }

  private readonly csrfToken: () => string;

  private render(name: string, data: Record<string, unknown>): string {
    return this.eta.render(`partials/${name}`, { ...this.res.locals, csrfToken: this.csrfToken, ...data });
  }

  /** The composer's turn key, replaced: the next message is a new turn. */
  private freshTurnKey(): string {
    return partial('#turn-key', 'outerHTML', this.render('turn-key', { turnKey: newTurnKey() }));
  }

  /**
   * The conversation's own entry in the sidebar, marked answering, moved to the top (where a turn
   * puts it): the old entry deleted and the new one put first, and the empty list's line deleted
   * (a missing target is no swap). The rest of the list is the page's own and is neither read nor
   * sent again: its read was the turn start's dearest statement (142 µs for 50 conversations),
   * and each of its entries was rendered again.
   */
  private sidebarEntry(conversation: Conversation): string {
    const entry = this.render('conversation-item', { c: { ...conversation, answering: 1 }, current: conversation });
    return partial(`#conversation-${conversation.id}`, 'delete', '') + partial('#no-conversations', 'delete', '') + partial('#conversation-list', 'afterbegin', entry);
  }

  private open(): EventStream {
    return (this.stream ??= new EventStream(this.res));
  }

  on(event: TurnEvent, conversation: Conversation): void {
    if (!this.htmx) return;
    if (event.type === 'delta' && this.idle) {
      if (!this.failed) this.shownNow(() => this.writer?.piece(event.text, event.tokens));
      return;
    }
    this.queue(() => this.show(event, conversation));
  }

  /** `show` once everything queued before it was shown (the start reads the database first). */
  private queue(show: () => void | Promise<void>): void {
    this.idle = false;
    const shown = this.shown.then(() => (this.failed ? undefined : show())).catch((err: unknown) => {
      this.failed ??= { err };
    });
    this.shown = shown;
    void shown.then(() => {
      if (this.shown === shown) this.idle = true;
    });
  }

  private shownNow(show: () => void): void {
    try {
      show();
    } catch (err) {
      this.failed ??= { err };
    }
  }

  private async show(event: TurnEvent, conversation: Conversation): Promise<void> {
    const s = this.open();
    if (event.type === 'queued') {
      s.html(partial('#turn-status', 'innerHTML', this.t('chat.queued', { position: event.position })));
    } else if (event.type === 'waiting') {
      s.html(partial('#turn-status', 'innerHTML', this.t('chat.waiting_balance')));
    } else if (event.type === 'stopping') {
      s.html(partial('#turn-status', 'innerHTML', this.t('chat.stopping_hidden')));
    } else if (event.type === 'start') {
      // A trailing render joins the queue of events, so it never goes out after the end.
      this.writer = new AnswerWriter(s, event.assistant.id, this.t('chat.copy'), (render) => (this.idle ? this.shownNow(render) : this.queue(render)));
      this.writer.started();
      this.writer.metered(event, costWords(this.t, this.res.locals.locale));
      // Send appends; Retry and Edit changed earlier messages, so the whole transcript is redrawn.
      const shown: Array<Message & { versions?: number[] }> = event.mode === 'send'
        ? [event.user, event.assistant].filter((m) => m !== undefined) : await threadWithFiles(this.store, conversation.id);
      this.versions = shown.find((m) => m.id === event.assistant.id)?.versions;
      const html = shown.map((m) => this.render('message', { m: messageView(m, this.t), live: true })).join('');
      const transcript = event.mode === 'send' ? html : partial('#transcript', 'innerHTML', html);
      const dropped = partial('#turn-status', 'innerHTML', event.dropped ? this.t('chat.dropped', { n: event.dropped }) : '');
      // The message sent is in the transcript now: the composer's estimate was for it, and goes with it.
      const estimate = event.mode === 'send' ? partial('#estimate', 'innerHTML', '') : '';
      s.html(
        transcript + dropped + estimate + this.freshTurnKey() + partial('#announcer', 'innerHTML', escapeText(this.t('chat.answering'))) +
          partial('#conversation-id', 'outerHTML', this.render('conversation-id', { conversation })) +
          this.sidebarEntry(conversation) + partial('#chat-title', 'innerHTML', escapeText(conversation.title || this.t('chat.title'))) +
          partial('#manage', 'outerHTML', this.render('manage', { conversation })),
      );
      s.event('tokenchat:turn-started', String(conversation.id));
    } else if (event.type === 'delta') {
      this.writer?.piece(event.text, event.tokens);
    } else {
      this.writer?.cancel();
      const message = this.render('message', { m: messageView({ ...event.message, versions: this.versions }, this.t) });
      // Announced once, short (the transcript is not live); the balance was read after the settle.
      const ended = await answerEnded(this.store, conversation, event.message, event.wallet, this.t, this.res.locals.locale, (name, data) => this.render(name, data));
      s.html(partial(`#m${event.message.id}`, 'outerHTML', message) + ended + this.freshTurnKey());
    }
  }

  async finish(result: TurnResult, conversation: Conversation, plain: () => Promise<unknown>): Promise<void> {
    this.writer?.cancel(); // a turn that ended without its end event (refused, failed) renders nothing more
    await this.shown;
    if (this.failed) throw this.failed.err;
    // Without htmx, or refused before anything streamed: an ordinary answer (refuse() for a refusal).
    if (!this.htmx || (result.status === 'refused' && !this.stream)) {
      await plain();
      return;
    }
    const s = this.open();
    if (result.status === 'refused' && result.refusal.reason === 'changed') {
      const changed = await changedConversation(this.store, conversation.id, this.t, refusalText(result.refusal, this.t), (name, data) => this.render(name, data));
      s.html(changed + partial('#turn-status', 'innerHTML', ''));
    } else if (result.status === 'refused') {
      s.html(this.render('notice', { notice: refusalText(result.refusal, this.t), noticeKind: result.refusal.reason }) + partial('#turn-status', 'innerHTML', ''));
    }
    if (result.status === 'duplicate') {
      s.html(this.render('notice', { notice: this.t('chat.duplicate') }) + this.freshTurnKey());
    }
    s.event('tokenchat:turn-settled', String(conversation.id));
    s.end();
  }
}


