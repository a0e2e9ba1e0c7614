// Attaching files to the next message. POST /attachments takes the composer's files (multipart,
// read by http/uploads.ts) and stores each one it accepts as the user's pending attachment: with
// JavaScript (app.js uploads on choose, paste or drop) it answers the composer's list of chips;
// without it, the chat page again with the draft and the chips. The same route, posted by a chip's
// Remove button, removes one. GET /attachments/:id serves an image to its owner only.
import { Router, type Response } from 'express';
import type { Services } from '../context';
import { acceptFile, discardAttachment, imageOf, PENDING_PER_MESSAGE, saveAttachment } from '../../attachments/attachments';
import { attachmentIds, keptAttachments, sizeText } from '../attachment-input';
import { HttpError } from '../http-error';
import { bodyOf } from '../input';
import { uploadOf } from '../uploads';
import { isHtmx, viewsOf } from '../views';
import { optionalConversationInBody, renderChat } from './chat';
import { signedIn } from './guards';

export function attachmentRoutes(services: Services): Router {
  const router = Router();
  const store = services.database;
  const limits = services.config.attachments;

  router.post('/attachments', signedIn, async (req, res) => {
    const userId = req.user!.id;
    const form = bodyOf(req);
    const { t } = res.locals;
    const removed = attachmentIds(form.remove_attachment)?.[0];
    if (removed !== undefined) await store.write(discardAttachment, userId, removed);
    // The chips already in the form, still the user's and pending (a stale one simply drops out).
    const files = await keptAttachments(services, req, removed);
    const kept = files.length;
    const notices: string[] = [];
    const upload = uploadOf(req);
    let room = limits.perMessage - files.length;
    if ((upload?.tooMany || (upload?.files.length ?? 0) > room)) notices.push(t('attach.too_many', { count: limits.perMessage }));
    for (const file of upload?.files ?? []) {
      if (room <= 0) break;
      const got = await acceptFile(file, limits);
      if ('refused' in got) {
        notices.push(t(`attach.refused.${got.refused}`, {
          name: got.name, size: sizeText(limits.maxBytes, res.locals.locale), pages: limits.maxPages, chars: limits.maxChars.toLocaleString(res.locals.locale),
        }));
        continue;
      }
      const id = await store.write(saveAttachment, userId, got, limits.perMessage * PENDING_PER_MESSAGE);
      if (id === undefined) {
        notices.push(t('attach.too_many_pending'));
        break;
      }
      files.push({ id, messageId: null, kind: got.kind, name: got.name, mime: got.mime, size: got.size, text: got.text, pages: got.pages });
      room--;
    }
    // 422 when files were sent and none was taken; the chips kept are still shown.
    const status = notices.length > 0 && files.length === kept && (upload?.files.length ?? 0) > 0 ? 422 : 200;
    const data = { attachments: files, attachNotice: notices.join(' ') || undefined };
    if (isHtmx(req)) return res.status(status).type('html').send(viewsOf(res).render('partials/attachments', { ...res.locals, ...data }));
    const conversation = await optionalConversationInBody(services, req);
    await renderChat(services, req, res, conversation, { ...data, draft: typeof form.message === 'string' ? form.message : '' }, status);
  });

  router.get('/attachments/:id', signedIn, async (req, res) => {
    const id = Number(req.params.id);
    const image = Number.isSafeInteger(id) && id > 0 ? await store.read(imageOf, req.user!.id, id) : undefined;
    if (!image) throw new HttpError(404); // another user's image does not exist for this one
    sendImage(res, image);
  });

  return router;
}

function sendImage(res: Response, image: { mime: string; data: Buffer }) {
  // Its type was read from its bytes on upload. Not kept by the browser (no-store, as every page):
  // on a shared computer, Back after signing out must not show a student's photo.
  res.set({ 'Content-Type': image.mime, 'Content-Disposition': 'inline', 'X-Content-Type-Options': 'nosniff' });
  res.send(Buffer.from(image.data));
}

