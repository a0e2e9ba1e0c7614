// Sending a message (and Retry, Edit): runs a turn and streams it to htmx as text/event-stream,
// or, for a plain form POST (JavaScript off), answers with the whole page once the turn is done.
// Stop aborts the user's running turns in a conversation (services.running). Closing the tab, a
// reload or navigating away does not: the answer outlives its request, is stored and charged as it
// ends, and a reloaded page polls it until then.
import { Router, type Request, type Response } from 'express';
import type { Eta } from 'eta';
import type { Services } from '../app';
import { createConversation, deleteConversation, findConversation, findMessage, findMessageByHold, listConversations, messagesOf, saveSettings, titleFrom, type Conversation, type Message, type TurnMode } from '../../chat/conversations';
import { InputError, parseTurn } from '../chat-input';
import { HttpError } from '../http-error';
import { findHold } from '../../ledger/ledger';
import type { Translate } from '../../i18n';
import { AnswerFeeds } from '../answer-feeds';
import { AnswerWriter } from '../answer-writer';
import { LiveAnswers } from '../../chat/live-answers';
import { EventStream, partial } from '../sse';
import type { Op, Store } from '../../storage/op';
import { runTurn, type Refusal, type TurnDeps, type TurnEvent, type TurnResult } from '../../chat/turn';
import { escapeText, isHtmx } from '../views';
import { conversationParam, optionalConversationInBody, renderChat } from './chat';
import { messageView, newTurnKey, transcriptOf } from './chat-view';
import { signedIn } from './guards';

/**
 * Pages that may follow one answer at once (each holds a connection; a feed renders once for all
 * of them). A user has at most TURNS_PER_USER answers being written, so this bounds a user's too.
 */
const FOLLOWS_PER_ANSWER = 5;

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
  const live = new LiveAnswers();
  const feeds = new AnswerFeeds({ live, store, logger: services.logger });

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
    const published = live.publisher(); // for pages that come back to the answer meanwhile
    try {
      const result = await runTurn(
        deps,
        {
          userId: req.user!.id, conversation, mode, text: input.text, settings: input.settings, model: services.models.find(input.settings.model)!,
          turnKey: input.turnKey, signal: controller.signal, trim: input.trim, target: input.target,
        },
        (event) => {
          published.emit(event);
          view.on(event, conversation!);
        },
      );
      if (result.status === 'done') await store.write(saveSettings, conversation.id, input.settings);
      // A new chat whose first message was not answered leaves no empty conversation behind.
      const keep = !(created && result.status !== 'done' && (await store.write(deleteConversation, req.user!.id, conversation.id)));
      await view.finish(result, conversation, () => renderAfter(req, res, keep ? conversation : undefined, result, input.text));
    } finally {
      published.close();
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
    if (isHtmx(req) && refusal.reason === 'changed' && conversation) {
      // Refused after its hold was taken (and released): the conversation changed under it, so it
      // is shown as it is now (with the notice), and the turn key is spent: the forms get new ones.
      const eta = res.app.locals.views as Eta;
      const messages = await transcriptOf(store, conversation.id, res.locals.t);
      return res.status(status).type('html').send(partial('#transcript', 'innerHTML', eta.render('pages/transcript', { ...res.locals, messages, notice })) +
        partial('#turn-key', 'outerHTML', eta.render('partials/turn-key', { ...res.locals, turnKey: newTurnKey() })));
    }
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
  // A page showing an answer that is being written (another tab, a reload, back from another
  // conversation) follows it live: the text so far, then each piece, then the finished message
  // (answer-feeds.ts; from the database when another process writes it).
  router.get('/c/:id/m/:message/live', signedIn, async (req, res) => {
    const conversation = await conversationParam(services, req);
    const id = Number(req.params.message);
    const found = Number.isSafeInteger(id) ? await store.read(findMessage, conversation.id, id) : undefined;
    if (!found || found.role !== 'assistant') throw new HttpError(404);
    if (req.socket.destroyed) return; // the page left while this was read
    if (found.status === 'streaming' && feeds.followers(id) >= FOLLOWS_PER_ANSWER) throw new HttpError(429);
    const t = res.locals.t as Translate;
    // Making a CSRF token may set its cookie, which cannot happen once the stream has started.
    const token: string = res.locals.csrfToken();
    const stream = new EventStream(res);
    /** The finished message in place of the one being written (from the thread shown, so it keeps its versions). */
    const ended = (stored: Message | undefined) => {
      (async () => {
        const message = (await store.read(messagesOf, conversation.id)).find((m) => m.id === id) ?? stored;
        if (message) stream.html(partial(`#m${id}`, 'outerHTML', (res.app.locals.views as Eta).render('partials/message', { ...res.locals, csrfToken: () => token, m: messageView(message, t) })));
      })().catch((err: unknown) => services.logger.warn({ err, messageId: id }, 'sending a finished answer to a page following it failed'))
        .finally(() => stream.end());
    };
    if (found.status !== 'streaming') return ended(found);
    res.once('close', feeds.follow(found, t('chat.copy'), { stream, ended }));
  });

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

/**
 * Turns a turn's events into SSE messages for htmx (or nothing, for a plain POST). Showing the
 * start reads the database, so events are shown one after another in order, and finish() waits
 * for them; a failure to show one is thrown by finish().
 */
class TurnView {
  private stream?: EventStream;
  /** The answer's versions (Retry makes several), for its message once it ends. */
  private versions?: number[];
  private writer?: AnswerWriter;
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

  /** The sidebar's list of conversations as it is now (which of them are answering). */
  private async sidebar(conversation: Conversation): Promise<string> {
    return this.render('../pages/conversation-list', { conversations: await this.store.read(listConversations, conversation.userId), conversation, fullPage: false });
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
      // A trailing render joins the queue of events, so it never goes out after the end.
      this.writer = new AnswerWriter(s, event.assistant.id, this.t('chat.copy'), (render) => {
        this.shown = this.shown.then(() => (this.failed ? undefined : render())).catch((err: unknown) => {
          this.failed ??= { err };
        });
      });
      this.writer.started();
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
      this.writer?.piece(event.text);
    } else {
      this.writer?.cancel();
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
      // Refused after its hold was taken (and released): the conversation changed under it, so it
      // is shown as it is now (with the notice), and the turn key is spent: the forms get new ones.
      const messages = await transcriptOf(this.store, conversation.id, this.t);
      const notice = refusalText(result.refusal, this.t);
      s.html(partial('#transcript', 'innerHTML', this.render('../pages/transcript', { messages, notice, fullPage: false })) + partial('#turn-status', 'innerHTML', '') + this.freshTurnKey());
    } else if (result.status === 'refused') {
      s.html(this.render('notice', { notice: refusalText(result.refusal, this.t) }) + partial('#turn-status', 'innerHTML', ''));
    }
    if (result.status === 'duplicate') {
      s.html(this.render('notice', { notice: this.t('chat.duplicate') }) + this.freshTurnKey());
    }
    s.event('tokenchat:turn-settled', String(conversation.id));
    s.end();
  }
}


