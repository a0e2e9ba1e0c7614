// The chat page: conversations in a sidebar, the transcript, the composer. Turns themselves are
// in routes/turns.ts.
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { Services } from '../context';
import {
  clearMessages, deleteConversation, findConversation, historyFor, listConversations, MESSAGE_MAX, renameConversation, showVersion, undoLastTurn, type Conversation,
} from '../../chat/conversations';
import { InputError, parseSettings, parseTitle } from '../chat-input';
import { HttpError } from '../http-error';
import { bodyOf } from '../input';
import { resumeAbandoned } from '../../chat/abandoned';
import { accessOf } from '../../groups/access';
import { charsToCount, countHistory } from '../../chat/history-tokens';
import { EstimateBudget } from '../estimate-budget';
import { formAttachments } from '../attachment-input';
import { estimateHtml, heldPrompt } from '../estimate-text';
import { spendAllowance } from '../../ledger/spend-limits';
import { walletOf } from '../../ledger/buckets';
import type { Op } from '../../storage/op';
import { escapeText, renderPage, isHtmx } from '../views';
import { signedIn } from './guards';
import { chatView, transcriptOf } from './chat-view';

export function conversationParam(services: Services, req: Request): Promise<Conversation> {
  return ownConversation(services, req, req.params.id);
}

export function conversationInBody(services: Services, req: Request): Promise<Conversation> {
  return ownConversation(services, req, bodyOf(req).conversation_id);
}

/** The form's conversation, or undefined when the form names none (a new chat). */
export async function optionalConversationInBody(services: Services, req: Request): Promise<Conversation | undefined> {
  const value = bodyOf(req).conversation_id;
  return value === undefined || value === '' ? undefined : conversationInBody(services, req);
}

async function ownConversation(services: Services, req: Request, value: unknown): Promise<Conversation> {
  const id = Number(value);
  const found = Number.isSafeInteger(id) && id > 0 ? await services.database.read(findConversation, req.user!.id, id) : undefined;
  if (!found) throw new HttpError(404); // another user's conversation does not exist for this one
  return found;
}

export async function renderChat(
  services: Services, req: Request, res: Response, conversation?: Conversation, extra: Record<string, unknown> = {}, status = 200,
): Promise<void> {
  renderPage(req, res, 'chat', await chatView(services, req, res, conversation, extra), status);
}

export function chatRoutes(services: Services): Router {
  const router = Router();
  const store = services.database;

  router.get('/', async (req, res) => (req.user ? renderChat(services, req, res) : res.redirect(303, '/login')));
  router.get('/c/:id', signedIn, async (req, res) => {
    const conversation = await conversationParam(services, req);
    // Undo without JavaScript redirects here with the question it removed, shown once.
    const undone = req.session.undone;
    if (undone) delete req.session.undone;
    await renderChat(services, req, res, conversation, undone?.conversationId === conversation.id ? { draft: undone.text } : {});
  });

  router.get('/c', signedIn, async (req, res) => {
    const q = typeof req.query.q === 'string' ? req.query.q.slice(0, 200) : '';
    const conversations = await store.read(listConversations, req.user!.id, q);
    if (isHtmx(req)) return renderPage(req, res, 'conversation-list', { conversations, q });
    await renderChat(services, req, res, undefined, { q, conversations });
  });

  router.post('/c/:id/rename', signedIn, async (req, res) => {
    const conversation = await conversationParam(services, req);
    await store.write(renameConversation, req.user!.id, conversation.id, parseTitleOr422(req.body));
    res.redirect(303, `/c/${conversation.id}`);
  });

  /** Clear and Delete cannot be undone: asked once more (a page, so without JavaScript too; htmx asks with hx-confirm). */
  function unconfirmed(req: Request, res: Response, conversation: Conversation, what: 'clear' | 'delete'): boolean {
    if (bodyOf(req).confirm === '1' || (what === 'clear' && isHtmx(req))) return false;
    const title = conversation.title || res.locals.t('chat.title');
    renderPage(req, res, 'confirm', {
      title: res.locals.t(`chat.confirm_${what}`, { title }), question: res.locals.t(`chat.confirm_${what}`, { title }), detail: res.locals.t(`chat.confirm_${what}_detail`),
      action: req.path, fields: { conversation_id: String(conversation.id) }, button: res.locals.t(`chat.${what}`), cancel: `/c/${conversation.id}`,
    });
    return true;
  }

  router.post('/c/:id/delete', signedIn, async (req, res) => {
    const conversation = await conversationParam(services, req);
    if (unconfirmed(req, res, conversation, 'delete')) return;
    const { id } = conversation;
    await store.write(deleteConversation, req.user!.id, id);
    if (isHtmx(req)) return res.set('HX-Redirect', '/').status(204).end();
    res.redirect(303, '/');
  });

  // Undo removes the last question and its answers; Clear empties the conversation. Both keep the
  // ledger and usage records of what those turns cost, and neither runs while an answer is being
  // written (409: Stop it first). The composer posts them with the conversation id in the form
  // (/undo, /clear; a new chat has none, and nothing to change); /c/:id/... is the same for links
  // and scripts.
  const edit = (change: (conversationId: number) => Op<{ draft?: string } | false>) =>
    async (req: Request, res: Response, conversation: Conversation | undefined) => {
      if (!conversation) return isHtmx(req) ? renderPage(req, res, 'transcript', { messages: [] }) : res.redirect(303, '/');
      if (change === clearMessages && unconfirmed(req, res, conversation, 'clear')) return;
      // A turn waiting for the model has no streaming message yet; the registry knows it. An answer
      // left by a process known to be gone is closed first (chat/abandoned.ts).
      const busy = services.running.busy(req.user!.id, conversation.id);
      if (!busy) await resumeAbandoned(store, conversation.id);
      const done = !busy && (await store.write(change, conversation.id));
      if (done) return afterEdit(req, res, conversation, done.draft);
      await refuseWhileAnswering(req, res, conversation);
    };

  /** 409: an answer is being written in the conversation (Stop it first). */
  async function refuseWhileAnswering(req: Request, res: Response, conversation: Conversation) {
    const notice = res.locals.t('chat.refused.answering');
    // The notice alone, beside the composer: redrawing the transcript would empty the answer streaming into it.
    if (isHtmx(req)) return res.status(409).set({ 'HX-Retarget': '#turn-status', 'HX-Reswap': 'innerHTML' }).type('html').send(escapeText(notice));
    await renderChat(services, req, res, conversation, { notice }, 409);
  }
  const undo = edit(undoLastTurn);
  const clear = edit(clearMessages);
  router.post('/c/:id/undo', signedIn, async (req, res) => undo(req, res, await conversationParam(services, req)));
  router.post('/undo', signedIn, async (req, res) => undo(req, res, await optionalConversationInBody(services, req)));
  router.post('/c/:id/clear', signedIn, async (req, res) => clear(req, res, await conversationParam(services, req)));
  router.post('/clear', signedIn, async (req, res) => clear(req, res, await optionalConversationInBody(services, req)));

  // ‹ 2/3 ›: another version of a message, and the thread through it to its newest answer. The
  // message's form posts /c/:id/version; with JavaScript the page's own form posts /version.
  async function version(req: Request, res: Response, conversation: Conversation | undefined) {
    const id = Number(bodyOf(req).message_id);
    if (!conversation || !Number.isSafeInteger(id) || id <= 0) throw new HttpError(404);
    const busy = services.running.busy(req.user!.id, conversation.id);
    if (!busy) await resumeAbandoned(store, conversation.id);
    const shown = busy ? false : await store.write(showVersion, conversation.id, id);
    if (shown === undefined) throw new HttpError(404); // not a message of this conversation
    if (!shown) return refuseWhileAnswering(req, res, conversation);
    if (isHtmx(req)) return renderPage(req, res, 'transcript', { messages: await transcriptOf(store, conversation.id, res.locals.t) });
    res.redirect(303, `/c/${conversation.id}#m${id}`);
  }
  router.post('/c/:id/version', signedIn, async (req, res) => version(req, res, await conversationParam(services, req)));
  router.post('/version', signedIn, async (req, res) => version(req, res, await optionalConversationInBody(services, req)));

  // The debounced estimate under the textbox: what the prompt would cost, and the most with the longest answer.
  // Counted like a turn (stored counts for the history), but free: so rationed per user, in calls
  // and in characters (estimate-budget.ts). A message longer than the composer takes is refused
  // before anything is counted, as sending it would be.
  const budget = new EstimateBudget(services.config.estimateCharsPerMinute);
  router.post('/estimate', signedIn, estimateThrottle(services.config.estimateRateLimitPerUser), async (req, res) => {
    const form = bodyOf(req);
    const text = typeof form.message === 'string' ? form.message : '';
    const refuse = (status: number, key: 'chat.invalid.message_long' | 'chat.estimate_throttled') => res.status(status).type('html').send(escapeText(res.locals.t(key)));
    if (text.length > MESSAGE_MAX) return refuse(422, 'chat.invalid.message_long');
    const id = Number(form.conversation_id);
    const conversation = Number.isSafeInteger(id) && id > 0 ? await store.read(findConversation, req.user!.id, id) : undefined;
    // At the price the user pays, of the models their groups allow.
    const models = (await store.read(accessOf, req.user!.id)).catalog(services.models);
    if (models.models.length === 0) return res.type('html').send('');
    const settings = parseSettings(req.body, models, conversation);
    const model = models.find(settings.model)!;
    // The attached files count as the send will count them (images by the model's price); a refusal the send would give is said here.
    const attached = await formAttachments(services, req, res, model);
    if (!attached.ok) return res.status(attached.status).type('html').send(escapeText(attached.notice));
    const files = attached.files;
    if (text.trim() === '' && files.length === 0) return res.type('html').send('');
    const history = conversation ? (await store.read(historyFor, conversation.id, 'send', text, undefined, files))!.history : [{ role: 'user' as const, content: text, attachments: files }];
    const counted = budget.take(req.user!.id, charsToCount(history, settings.systemPrompt, model));
    if (!counted) return refuse(429, 'chat.estimate_throttled');
    const { total, held } = await (async () => {
      const { total } = await countHistory(history, settings.systemPrompt, model);
      return { total, held: await heldPrompt(history, settings.systemPrompt, model, total, settings.maxTokens) };
    })().finally(counted);
    const balance = (await store.read(walletOf, req.user!.id, new Date())).total;
    const allowance = await store.read(spendAllowance, req.user!.id);
    const figures = { model, total, held, maxTokens: settings.maxTokens, minCompletion: services.config.minCompletion, balance, allowance };
    res.type('html').send(estimateHtml(res.locals.t, res.locals.locale, figures));
  });

  /** The transcript after Undo or Clear; Undo's question goes back into the textbox. */
  async function afterEdit(req: Request, res: Response, conversation: Conversation, draft?: string) {
    if (isHtmx(req)) return renderPage(req, res, 'transcript', { messages: await transcriptOf(store, conversation.id, res.locals.t), undone: draft });
    if (draft !== undefined) req.session.undone = { conversationId: conversation.id, text: draft };
    res.redirect(303, `/c/${conversation.id}`);
  }

  return router;
}

/**
 * Estimates per user per minute; beyond it the estimate slot says so (htmx swaps a 429 in like any
 * answer). Counted in memory: it guards this process's CPU, not a shared resource.
 */
function estimateThrottle(limit: number): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: (req) => `estimate:${req.user?.id ?? 0}`,
    handler: (_req, res) => res.status(429).type('html').send(escapeText(res.locals.t('chat.estimate_throttled'))),
    validate: { trustProxy: false, xForwardedForHeader: false },
  });
}

function parseTitleOr422(body: unknown): string {
  try {
    return parseTitle(body);
  } catch (err) {
    if (err instanceof InputError) throw new HttpError(422, 'chat.error.title');
    throw err;
  }
}

