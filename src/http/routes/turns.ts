// Sending a message (and Retry, Edit): runs a turn and streams it to htmx as text/event-stream,
// or, for a plain form POST (JavaScript off), answers with the whole page once the turn is done.
// Stop aborts the user's running turns in a conversation (services.running). Closing the tab, a
// reload or navigating away does not: the answer outlives its request, is stored and charged as it
// ends, and a reloaded page polls it until then.
import { Router, type Request, type Response } from 'express';
import type { Eta } from 'eta';
import type { Services } from '../app';
import { createConversation, deleteConversation, findConversation, findMessageByHold, listConversations, messagesOf, saveSettings, titleFrom, type Conversation, type Message, type TurnMode } from '../../chat/conversations';
import { InputError, parseTurn } from '../chat-input';
import { HttpError } from '../http-error';
import { findHold } from '../../ledger/ledger';
import type { Translate } from '../../i18n';
import { EventStream, partial } from '../sse';
import type { Op, Store } from '../../storage/op';
import { runTurn, type Refusal, type TurnDeps, type TurnEvent, type TurnResult } from '../../chat/turn';
import { renderMarkdown } from '../markdown';
import { escapeText, isHtmx } from '../views';
import { optionalConversationInBody, renderChat } from './chat';
import { messageView, newTurnKey } from './chat-view';
import { signedIn } from './guards';

const REFUSAL_STATUS: Record<Refusal['reason'], number> = {
  insufficient: 402, per_message: 422, per_day: 422, too_long: 422, nothing: 422, answering: 409, changed: 409, busy: 429, queue_full: 503, aborted: 499,
};

function* conversationOfTurn(userId: number, turnKey: string): Op<Conversation | undefined> {
  const hold = yield* findHold(userId, turnKey);
  const message = hold && (yield* findMessageByHold(hold.id));
  return message ? yield* findConversation(userId, message.conversationId) : undefined;
}

export function turnRoutes(services: Services, deps: TurnDeps): Router {
  const router = Router();
  const { running } = services;
  const store = services.database;

  async function turn(req: Request, res: Response, mode: TurnMode) {
    const t = res.locals.t as Translate;
    let conversation = await optionalConversationInBody(services, req);
    let input;
    try {
      input = parseTurn(req.body, services.models, conversation);
    } catch (err) {
      if (err instanceof InputError) return refuseInput(req, res, conversation, err.field);
      throw err;
    }
    if (mode !== 'retry' && input.text === '') return refuseInput(req, res, conversation, 'message');
    // A repeated submit (a double click, a reload of the no-JavaScript answer) belongs to the
    // conversation its first copy made, and changes nothing there.
    conversation ??= await store.read(conversationOfTurn, req.user!.id, input.turnKey);
    if (!conversation && mode !== 'send') return refuse(req, res, undefined, { reason: 'nothing' }, input.text); // a new chat
    // One answer at a time in a conversation. The composer gets a new turn key when an answer
    // starts, so this is a new message typed meanwhile; the same key is a repeat (answered below).
    if (conversation && running.answering(req.user!.id, conversation.id, input.turnKey)) {
      return refuse(req, res, conversation, { reason: 'answering' }, input.text);
    }
    const created = conversation === undefined;
    conversation ??= await store.write(createConversation, req.user!.id, titleFrom(input.text), input.settings);
    const controller = new AbortController();
    const forget = running.add(req.user!.id, conversation.id, input.turnKey, controller);
    const view = new TurnView(res.app.locals.views as Eta, res, t, isHtmx(req), store);
    try {
      const result = await runTurn(
        deps,
        {
          userId: req.user!.id, conversation, mode, text: input.text, settings: input.settings, model: services.models.find(input.settings.model)!,
          turnKey: input.turnKey, signal: controller.signal, trim: input.trim, target: input.target,
        },
        (event) => view.on(event, conversation!),
      );
      if (result.status === 'done') await store.write(saveSettings, conversation.id, input.settings);
      // A new chat whose first message was not answered leaves no empty conversation behind.
      const keep = !(created && result.status !== 'done' && (await store.write(deleteConversation, req.user!.id, conversation.id)));
      await view.finish(result, conversation, () => renderAfter(req, res, keep ? conversation : undefined, result, input.text));
    } finally {
      forget();
    }
  }

  async function renderAfter(req: Request, res: Response, conversation: Conversation | undefined, result: TurnResult, text: string) {
    if (result.status === 'refused') return refuse(req, res, conversation, result.refusal, text);
    // Without JavaScript: to the conversation, at the answer (and a reload is a GET, not the form again).
    if (result.status === 'done' && conversation) return res.redirect(303, `/c/${conversation.id}#m${result.message.id}`);
    const notice = result.status === 'duplicate' ? res.locals.t('chat.duplicate') : undefined;
    await renderChat(services, req, res, conversation, { notice });
  }

  /** A turn refused before it streamed: the notice alone for htmx, else the page with the draft kept. */
  async function refuse(req: Request, res: Response, conversation: Conversation | undefined, refusal: Refusal, text: string) {
    const notice = refusalText(refusal, res.locals.t);
    const status = REFUSAL_STATUS[refusal.reason];
    if (isHtmx(req)) return res.status(status).type('html').send(noticeHtml(res.app.locals.views, res, notice));
    await renderChat(services, req, res, conversation, { notice, draft: text }, status);
  }

  async function refuseInput(req: Request, res: Response, conversation: Conversation | undefined, field: string) {
    const notice = res.locals.t(new InputError(field).messageKey!);
    if (isHtmx(req)) return res.status(422).type('html').send(noticeHtml(res.app.locals.views, res, notice));
    await renderChat(services, req, res, conversation, { notice, draft: String(req.body?.message ?? '') }, 422);
  }

  router.post('/send', signedIn, (req, res) => turn(req, res, 'send'));
  router.post('/retry', signedIn, (req, res) => turn(req, res, 'retry'));
  router.post('/edit', signedIn, (req, res) => turn(req, res, 'edit'));
  router.post('/stop', signedIn, async (req, res) => {
    const conversation = await optionalConversationInBody(services, req);
    const turnKey = typeof req.body?.turn_key === 'string' ? req.body.turn_key : undefined;
    if (!conversation && !turnKey) throw new HttpError(404);
    running.stop(req.user!.id, { conversationId: conversation?.id, turnKey });
    if (isHtmx(req)) return res.status(204).end();
    res.redirect(303, conversation ? `/c/${conversation.id}` : '/');
  });
  return router;
}

export function refusalText(refusal: Refusal, t: Translate): string {
  switch (refusal.reason) {
    case 'insufficient':
      return t('chat.refused.insufficient', { missing: refusal.missing, balance: refusal.balance, least: refusal.least });
    case 'per_message':
    case 'per_day':
      return t(`limits.refused.${refusal.reason}`, { limit: refusal.limit, spent: refusal.spent, estimate: refusal.estimate });
    default:
      return t(`chat.refused.${refusal.reason}`);
  }
}

function noticeHtml(eta: Eta, res: Response, notice: string): string {
  return eta.render('partials/notice', { ...res.locals, notice });
}

/** How often a streaming answer is sent again whole, rendered as markdown. */
const MARKDOWN_EVERY_MS = 250;

/**
 * Turns a turn's events into SSE messages for htmx (or nothing, for a plain POST). Showing the
 * start reads the database, so events are shown one after another in order, and finish() waits
 * for them; a failure to show one is thrown by finish().
 */
class TurnView {
  private stream?: EventStream;
  private assistantId?: number;
  /** The answer's versions (Retry makes several), for its message once it ends. */
  private versions?: number[];
  /** The answer so far, and when it was last sent rendered as markdown. */
  private answer = '';
  private renderedAt = 0;
  /** A render of the pieces sent since the last one, when no new piece brings it sooner. */
  private trailing?: NodeJS.Timeout;
  private shown: Promise<void> = Promise.resolve();
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
   * How long between two renders of the answer so far: MARKDOWN_EVERY_MS, and longer as it grows
   * (a render of 32 KB takes 15-30 ms and sends its whole HTML again), about a second at 32 KB.
   */
  private renderEvery(): number {
    return Math.max(MARKDOWN_EVERY_MS, this.answer.length / 32);
  }

  /** No render of the answer so far is due any more (one is being sent, or the answer ended). */
  private cancelTrailing(): void {
    clearTimeout(this.trailing);
    this.trailing = undefined;
  }

  /** The sidebar's list of conversations as it is now (which of them are answering). */
  private async sidebar(conversation: Conversation): Promise<string> {
    return this.render('../pages/conversation-list', { conversations: await this.store.read(listConversations, conversation.userId), conversation, fullPage: false });
  }

  /** The answer so far, rendered as the finished message will be; nothing once nobody reads the stream. */
  private renderAnswer(s: EventStream): void {
    this.cancelTrailing();
    this.renderedAt = Date.now();
    if (!s.open) return;
    s.html(partial(`#m${this.assistantId}-text`, 'innerHTML', renderMarkdown(this.answer, { copyLabel: this.t('chat.copy') })));
  }

  private open(): EventStream {
    return (this.stream ??= new EventStream(this.res));
  }

  on(event: TurnEvent, conversation: Conversation): void {
    if (!this.htmx) return;
    this.shown = this.shown.then(() => (this.failed ? undefined : this.show(event, conversation))).catch((err: unknown) => {
      this.failed ??= { err };
    });
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
      this.assistantId = event.assistant.id;
      this.renderedAt = Date.now(); // the first pieces go out as they come; the first render follows
      // Send appends; Retry and Edit changed earlier messages, so the whole transcript is redrawn.
      const shown: Array<Message & { versions?: number[] }> = event.mode === 'send'
        ? [event.user, event.assistant].filter((m) => m !== undefined) : await this.store.read(messagesOf, conversation.id);
      this.versions = shown.find((m) => m.id === event.assistant.id)?.versions;
      const html = shown.map((m) => this.render('message', { m: messageView(m, this.t), live: true })).join('');
      const transcript = event.mode === 'send' ? html : partial('#transcript', 'innerHTML', html);
      const dropped = partial('#turn-status', 'innerHTML', event.dropped ? this.t('chat.dropped', { n: event.dropped }) : '');
      const sidebar = await this.sidebar(conversation);
      s.html(
        transcript + dropped + this.freshTurnKey() + partial('#announcer', 'innerHTML', escapeText(this.t('chat.answering'))) +
          partial('#conversation-id', 'outerHTML', this.render('conversation-id', { conversation })) +
          partial('#conversation-list', 'outerHTML', sidebar) + partial('#chat-title', 'innerHTML', escapeText(conversation.title || this.t('chat.title'))) +
          partial('#manage', 'outerHTML', this.render('manage', { conversation })),
      );
      s.event('tokenchat:turn-started', String(conversation.id));
    } else if (event.type === 'delta') {
      this.answer += event.text;
      // Each piece goes out at once, escaped; at most every MARKDOWN_EVERY_MS the answer so far goes
      // out rendered (the same sanitised markdown as the finished message), so it reads as it will
      // stay and the finished message does not jump. A lone token is never held back for it.
      if (Date.now() - this.renderedAt >= this.renderEvery()) {
        this.renderAnswer(s);
      } else {
        s.html(partial(`#m${this.assistantId}-text`, 'beforeend', escapeText(event.text)));
        // What was just sent reads as markdown within MARKDOWN_EVERY_MS, also when the model pauses.
        this.trailing ??= setTimeout(() => {
          this.shown = this.shown
            .then(() => {
              if (this.trailing !== undefined && !this.failed) this.renderAnswer(s);
            })
            .catch((err: unknown) => {
              this.failed ??= { err };
            });
        }, this.renderEvery());
      }
    } else {
      this.cancelTrailing();
      const message = this.render('message', { m: messageView({ ...event.message, versions: this.versions }, this.t) });
      const sidebar = await this.sidebar(conversation); // no longer marking the conversation as answering
      // The finished answer, announced once (the transcript is not live).
      const said = event.message.status === 'done' ? event.message.content : `${event.message.content} ${this.t(event.message.status === 'stopped' ? 'chat.stopped' : 'chat.answer_failed')}`;
      s.html(
        partial('#announcer', 'innerHTML', escapeText(said.trim())) +
        partial(`#m${event.message.id}`, 'outerHTML', message) + partial('#conversation-list', 'outerHTML', sidebar) +
          partial('#balance', 'innerHTML', this.t('nav.balance', { n: event.balance.toLocaleString(this.res.locals.locale) })) +
          this.freshTurnKey(),
      );
    }
  }

  async finish(result: TurnResult, conversation: Conversation, plain: () => Promise<unknown>): Promise<void> {
    this.cancelTrailing(); // a turn that ended without its end event (refused, failed) renders nothing more
    await this.shown;
    if (this.failed) throw this.failed.err;
    // Without htmx, or refused before anything streamed: an ordinary answer (refuse() for a refusal).
    if (!this.htmx || (result.status === 'refused' && !this.stream)) {
      await plain();
      return;
    }
    const s = this.open();
    if (result.status === 'refused') s.html(this.render('notice', { notice: refusalText(result.refusal, this.t) }) + partial('#turn-status', 'innerHTML', ''));
    if (result.status === 'duplicate') {
      s.html(this.render('notice', { notice: this.t('chat.duplicate') }) + this.freshTurnKey());
    }
    s.event('tokenchat:turn-settled', String(conversation.id));
    s.end();
  }
}


