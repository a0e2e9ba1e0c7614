// Downloads of one's conversations: one as Markdown or JSON (the thread shown, with each answer's
// model, tokens and cost), or all of them as one JSON file, streamed a conversation at a time so
// a big account is never held in memory. Only the owner: another user's id is a 404.
import { once } from 'node:events';
import { Router, type Request } from 'express';
import type { Services } from '../context';
import { everyConversation, exportConversation, EXPORT_VERSION, markdownOf, type ExportedMessage } from '../../chat/export';
import type { Translate } from '../../i18n';
import { attachment } from '../download';
import { HttpError } from '../http-error';
import { idParam, signedIn } from './guards';

/** The Markdown export's words, in the reader's language. */
function words(t: Translate, locale: string) {
  const n = (v: number | null | undefined) => Number(v ?? 0).toLocaleString(locale);
  return {
    you: t('chat.you'), assistant: t('chat.assistant'), system: t('chat.system'),
    figures: (m: ExportedMessage) => t('export.figures', {
      model: m.model ?? '—', prompt: n(m.promptTokens), completion: n(m.completionTokens), cost: n(m.cost),
    }),
  };
}

export function exportRoutes({ database }: Services): Router {
  const router = Router();

  async function one(req: Request) {
    const c = await database.read(exportConversation, req.user!.id, idParam(req));
    if (!c) throw new HttpError(404);
    return c;
  }

  router.get('/c/:id/export.md', signedIn, async (req, res) => {
    const c = await one(req);
    res.set('Content-Disposition', attachment(c.title || res.locals.t('chat.title'), '.md', `conversation-${c.id}`));
    res.type('text/markdown; charset=utf-8').send(markdownOf(c, words(res.locals.t, res.locals.locale)));
  });

  router.get('/c/:id/export.json', signedIn, async (req, res) => {
    const c = await one(req);
    res.set('Content-Disposition', attachment(c.title || res.locals.t('chat.title'), '.json', `conversation-${c.id}`));
    res.type('application/json; charset=utf-8').send(JSON.stringify({ format: 'tokenchat.conversation', version: EXPORT_VERSION, conversation: c }, null, 2));
  });

  // Every conversation: written as it is read, waiting whenever the client is slower than the
  // database; a client that goes away ends the reading.
  router.get('/export/conversations.json', signedIn, async (req, res) => {
    const day = new Date().toISOString().slice(0, 10);
    res.set('Content-Disposition', attachment(`tokenchat-${day}`, '.json', `tokenchat-${day}`));
    res.type('application/json; charset=utf-8');
    const head = { format: 'tokenchat.conversations', version: EXPORT_VERSION, exportedAt: new Date().toISOString() };
    res.write(`${JSON.stringify(head).slice(0, -1)},"conversations":[\n`);
    let first = true;
    for await (const c of everyConversation(database, req.user!.id)) {
      if (res.destroyed) return;
      if (!res.write(`${first ? '' : ',\n'}${JSON.stringify(c)}`)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
      first = false;
    }
    res.end('\n]}\n');
  });

  return router;
}
