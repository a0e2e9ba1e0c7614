// Sending a message (and Retry, Edit): runs a turn and streams it to htmx as text/event-stream,
// or, for a plain form POST (JavaScript off), redirects to the conversation as the answer starts.
// Stop aborts the user's running turns in a conversation (services.running). Closing the tab, a
// reload or navigating away does not: the answer outlives its request, is stored and charged as it
// ends, and a page that comes back to it follows it live.
import { Router, type Request, type Response } from 'express';
import type { Eta } from 'eta';
import type { Services } from '../context';
import { createConversation, deleteConversation, findConversation, findMessage, findMessageByHold, hasSettings, messagesOf, saveSettings, titleFrom, type Conversation, type Message, type TurnMode } from '../../chat/conversations';
import { InputError, parseTurn } from '../chat-input';
import { HttpError } from '../http-error';
import { findHold } from '../../ledger/ledger';
import { AnswerFeeds } from '../answer-feeds';
import { resumeAbandoned } from '../../chat/abandoned';
import { LiveAnswers } from '../../chat/live-answers';
import { EventStream, partial } from '../sse';
import type { Op } from '../../storage/op';
import { runTurn, type Refusal, type TurnDeps, type TurnResult } from '../../chat/turn';
import { bodyOf } from '../input';
import { isHtmx, viewsOf } from '../views';
import { answerEnded, changedConversation, refusalText, TurnView } from '../turn-view';
import { costWords } from '../answer-writer';
import { orgRefusalStatus } from '../org-limit-text';
import { conversationParam, optionalConversationInBody, renderChat } from './chat';
import { messageView } from './chat-view';
import { signedIn } from './guards';
import { packagesView } from './payments';
import { dashboardData } from '../../reports/usage-report';
import { accessOf, type Access } from '../../groups/access';
import { promptFor, turnPrompt } from '../../groups/prompt';
import { formAttachments, keptAttachments } from '../attachment-input';

/**
 * Pages that may follow one answer at once (each holds a connection; a feed renders once for all
 * of them). A user has at most TURNS_PER_USER answers being written, so this bounds a user's too.
 */
const FOLLOWS_PER_ANSWER = 5;

const REFUSAL_STATUS: Record<Refusal['reason'], number> = {
  insufficient: 402, per_message: 422, per_day: 422, too_long: 422, nothing: 422, answering: 409, changed: 409, busy: 429, queue_full: 503, aborted: 499, org: 429,
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
    const { t } = res.locals;
    res.locals.canBuy = Boolean(packagesView(services.payments, res.locals.locale)?.length); // a refusal for too few tokens says so
    let conversation = await optionalConversationInBody(services, req);
    // The user's groups decide which models they may use and at what price: a model they may not
    // use is refused before anything is held; the others come priced, and the hold keeps that price.
    const access = await store.read(accessOf, req.user!.id);
    const wanted = modelAsked(req.body, conversation);
    const models = access.catalog(services.models);
    const refused = models.models.length === 0 || (wanted !== undefined && services.models.find(wanted) !== undefined && !access.allows(wanted));
    if (refused) return refuseModel(req, res, conversation, access);
    let input;
    try {
      input = parseTurn(req.body, models, conversation);
    } catch (err) {
      if (err instanceof InputError) return refuseInput(req, res, conversation, err.field);
      throw err;
    }
    // Files attached to the question: the user's own, and images only for a model that reads them; checked before any hold.
    const attached = mode === 'retry' ? { ok: true as const, files: [] } : await formAttachments(services, req, res, models.find(input.settings.model)!);
    if (!attached.ok) return refuseWith(req, res, conversation, attached.status, attached.notice);
    if (mode !== 'retry' && input.text === '' && attached.files.length === 0) return refuseInput(req, res, conversation, 'message');
    // A repeated submit (a double click, a reload of the no-JavaScript answer) belongs to the
    // conversation its first copy made, and changes nothing there.
    conversation ??= await store.read(conversationOfTurn, req.user!.id, input.turnKey);
    if (!conversation && mode !== 'send') return refuse(req, res, undefined, { reason: 'nothing' }, input.text); // a new chat
    // One answer at a time in a conversation. The composer gets a new turn key when an answer
    // starts, so this is a new message typed meanwhile; the same key is a repeat (answered below).
    if (conversation && running.answering(req.user!.id, conversation.id, input.turnKey)) {
      return refuse(req, res, conversation, { reason: 'answering' }, input.text);
    }
    // An answer left by a process that died goes on at once when that process is known gone;
    // one still written elsewhere (another server) is refused here, before any hold is taken.
    if (conversation && !running.busy(req.user!.id, conversation.id) && (await resumeAbandoned(store, conversation.id)).running > 0) {
      return refuse(req, res, conversation, { reason: 'answering' }, input.text);
    }
    const created = conversation === undefined;
    // The group's system prompt: a locked one whatever the form says (a crafted one is ignored); an unlocked one starts a new chat.
    input.settings.systemPrompt = turnPrompt(await store.read(promptFor, req.user!.id), input.settings.systemPrompt, { fresh: created, sent: bodyOf(req).system !== undefined });
    conversation ??= await store.write(createConversation, req.user!.id, titleFrom(input.text || attached.files.map((f) => f.name).join(', ')), input.settings);
    const controller = new AbortController();
    const forget = running.add(req.user!.id, conversation.id, input.turnKey, controller);
    const view = new TurnView(viewsOf(res), res, t, isHtmx(req), store);
    const published = live.publisher(); // for pages that come back to the answer meanwhile
    try {
      const result = await runTurn(
        deps,
        {
          userId: req.user!.id, conversation, mode, text: input.text, settings: input.settings, model: models.find(input.settings.model)!,
          turnKey: input.turnKey, signal: controller.signal, trim: input.trim, target: input.target, attachments: attached.files,
        },
        (event) => {
          published.emit(event);
          view.on(event, conversation!);
          // Without JavaScript the page comes back at once, to the conversation, which reloads itself
          // while the answer is written (with Stop on it); the answer goes on after this response.
          if (event.type === 'start' && !isHtmx(req) && !res.headersSent) res.redirect(303, `/c/${conversation!.id}#m${event.assistant.id}`);
        },
      );
      // The settings an answered turn used become the conversation's; a write only when they changed.
      if (result.status === 'done' && !hasSettings(conversation, input.settings)) await store.write(saveSettings, conversation.id, input.settings);
      // A new chat whose first message was not answered leaves no empty conversation behind.
      const keep = !(created && result.status !== 'done' && (await store.write(deleteConversation, req.user!.id, conversation.id)));
      await view.finish(result, conversation, () => renderAfter(req, res, keep ? conversation : undefined, result, input.text));
    } finally {
      published.close();
      forget();
    }
  }

  async function renderAfter(req: Request, res: Response, conversation: Conversation | undefined, result: TurnResult, text: string) {
    if (res.headersSent) return; // sent to the conversation as the answer started
    if (result.status === 'refused') return refuse(req, res, conversation, result.refusal, text);
    // Without JavaScript: to the conversation, at the answer (and a reload is a GET, not the form again).
    if (result.status === 'done' && conversation) return res.redirect(303, `/c/${conversation.id}#m${result.message.id}`);
    const notice = result.status === 'duplicate' ? res.locals.t('chat.duplicate') : undefined;
    await renderChat(services, req, res, conversation, { notice });
  }

  /** A turn refused before it streamed: the notice alone for htmx, else the page with the draft kept. */
  async function refuse(req: Request, res: Response, conversation: Conversation | undefined, refusal: Refusal, text: string) {
    const notice = refusalText(refusal, res.locals.t);
    const status = refusal.reason === 'org' ? orgRefusalStatus(refusal.refusal) : REFUSAL_STATUS[refusal.reason];
    if (isHtmx(req) && refusal.reason === 'changed' && conversation) {
      const render = (name: string, data: Record<string, unknown>) => viewsOf(res).render(`partials/${name}`, { ...res.locals, ...data });
      return res.status(status).type('html').send(await changedConversation(store, conversation.id, res.locals.t, notice, render));
    }
    if (isHtmx(req)) return res.status(status).type('html').send(noticeHtml(viewsOf(res), res, notice, refusal.reason));
    await renderChat(services, req, res, conversation, { notice, noticeKind: refusal.reason, draft: text, attachments: await keptAttachments(services, req) }, status);
  }

  /** 403: the user's groups do not allow the model (the turn's own, or the conversation's). */
  async function refuseModel(req: Request, res: Response, conversation: Conversation | undefined, access: Access) {
    const notice = res.locals.t('groups.not_allowed', { groups: access.rules.map((r) => r.name).join(', ') });
    if (isHtmx(req)) return res.status(403).type('html').send(noticeHtml(viewsOf(res), res, notice));
    await renderChat(services, req, res, conversation, { notice, draft: draftOf(req) }, 403);
  }

  async function refuseInput(req: Request, res: Response, conversation: Conversation | undefined, field: string) {
    await refuseWith(req, res, conversation, 422, res.locals.t(new InputError(field).messageKey!));
  }

  /** A turn refused before anything was held: the notice, with the draft (and its attachments) kept on the page. */
  async function refuseWith(req: Request, res: Response, conversation: Conversation | undefined, status: number, notice: string) {
    if (isHtmx(req)) return res.status(status).type('html').send(noticeHtml(viewsOf(res), res, notice));
    await renderChat(services, req, res, conversation, { notice, draft: draftOf(req), attachments: await keptAttachments(services, req) }, status);
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
    const { t } = res.locals;
    // Making a CSRF token may set its cookie, which cannot happen once the stream has started.
    const token: string = res.locals.csrfToken();
    const stream = new EventStream(res);
    const render = (name: string, data: Record<string, unknown>) => viewsOf(res).render(`partials/${name}`, { ...res.locals, csrfToken: () => token, ...data });
    /**
     * The finished message in place of the one being written (from the thread shown, so it keeps
     * its versions), and everything else the turn's own page updates at its end: the announcement,
     * the sidebar, the header's balance and the dashboard, read now, after the answer's settle.
     */
    const ended = (stored: Message | undefined) => {
      (async () => {
        const message = (await store.read(messagesOf, conversation.id)).find((m) => m.id === id) ?? stored;
        if (!message) return;
        let html = partial(`#m${id}`, 'outerHTML', render('message', { m: messageView(message, t) }));
        if (message.status !== 'streaming') { // not when following it failed: it may still be written
          const dashboard = await store.read(dashboardData, req.user!.id);
          html += await answerEnded(store, conversation, message, undefined, t, res.locals.locale, render) +
            partial('#dashboard', 'outerHTML', render('dashboard', { dashboard }));
        }
        stream.html(html);
      })().catch((err: unknown) => services.logger.warn({ err, messageId: id }, 'sending a finished answer to a page following it failed'))
        .finally(() => stream.end());
    };
    if (found.status !== 'streaming') return ended(found);
    res.once('close', feeds.follow(found, t('chat.copy'), { stream, ended }, costWords(t, res.locals.locale)));
  });

  router.post('/stop', signedIn, async (req, res) => {
    const conversation = await optionalConversationInBody(services, req);
    const { turn_key: given } = bodyOf(req);
    const turnKey = typeof given === 'string' ? given : undefined;
    if (!conversation && !turnKey) throw new HttpError(404);
    running.stop(req.user!.id, { conversationId: conversation?.id, turnKey });
    if (isHtmx(req)) return res.status(204).end();
    res.redirect(303, conversation ? `/c/${conversation.id}` : '/');
  });
  return router;
}

/** The model a turn is for: the form's, else the conversation's (a retry may send none). */
function modelAsked(body: unknown, conversation: Conversation | undefined): string | undefined {
  const sent = (body as { model?: unknown } | undefined)?.model;
  return typeof sent === 'string' && sent !== '' ? sent : (conversation?.model ?? undefined);
}

/** The question a refused turn puts back into the textbox. */
function draftOf(req: Request): string {
  const { message } = bodyOf(req);
  return typeof message === 'string' ? message : '';
}

function noticeHtml(eta: Eta, res: Response, notice: string, noticeKind?: string): string {
  return eta.render('partials/notice', { ...res.locals, notice, noticeKind });
}
