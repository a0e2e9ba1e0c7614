// Share links: made from a conversation's page, listed and revoked on /shares, read by anyone with
// the link at /s/:token (signed in or not), which search engines are told not to index. The
// rules (a snapshot, never costs or the username) are in chat/shares.ts.
import { Router, type Request, type Response } from 'express';
import type { Services } from '../context';
import { createShare, displayNameOf, newShareToken, revokeShare, ShareError, sharedPage, sharesOf, type SharedPage } from '../../chat/shares';
import { imagesOf, imagesStillThere, sharedImage } from '../../chat/share-files';
import { renderMarkdown, renderPlain } from '../markdown';
import { HttpError } from '../http-error';
import { bodyOf } from '../input';
import { renderPage } from '../views';
import { idParam, signedIn } from './guards';

const NOINDEX = { 'X-Robots-Tag': 'noindex, nofollow' };

/** The address of a link: at PUBLIC_URL when set (as invites are), else as the browser reached this server. */
const linkOf = (publicUrl: string | undefined, req: Request, token: string) =>
  `${publicUrl?.replace(/\/+$/, '') ?? `${req.protocol}://${req.get('host')}`}/s/${token}`;

export function shareRoutes({ database, config }: Services): Router {
  const router = Router();
  // A snapshot never changes, and rendering a long one's markdown costs up to a second or two: a
  // link opened by a whole class is rendered once. (Revoked or gone is read from the database first.)
  const rendered = new RenderedPages<ReturnType<typeof sharedView>>(RENDERED_BYTES);

  async function page(req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) {
    const shares = (await database.read(sharesOf, req.user!.id)).map((s) => ({ ...s, url: linkOf(config.publicUrl, req, s.token) }));
    renderPage(req, res, 'shares', { title: res.locals.t('share.title'), shares, ...extra }, status);
  }

  router.get('/shares', signedIn, async (req, res) => page(req, res, { made: req.query.made === '1', revoked: req.query.revoked === '1' }));

  router.post('/c/:id/share', signedIn, async (req, res) => {
    const id = idParam(req);
    try {
      const made = await database.write(createShare, req.user!.id, id, displayNameOf(bodyOf(req).display_name), newShareToken());
      if (!made) throw new HttpError(404); // another user's conversation does not exist for this one
      res.redirect(303, '/shares?made=1');
    } catch (err) {
      if (!(err instanceof ShareError)) throw err;
      const status = err.code === 'too_large' ? 413 : err.code === 'too_many' ? 409 : 422;
      await page(req, res, { error: res.locals.t(`share.error.${err.code}`, err.vars) }, status);
    }
  });

  router.post('/shares/:id/revoke', signedIn, async (req, res) => {
    if (!(await database.write(revokeShare, req.user!.id, idParam(req), new Date()))) throw new HttpError(404);
    res.redirect(303, '/shares?revoked=1');
  });

  // Anyone with the link, signed in or not. Gone (revoked, deleted, its owner disabled): a 404 like any other.
  router.get('/s/:token', async (req, res) => {
    const token = String(req.params.token);
    const shared = await database.read(sharedPage, token);
    if (!shared) throw new HttpError(404, 'share.gone', NOINDEX);
    res.set(NOINDEX).set('Referrer-Policy', 'no-referrer');
    const copyLabel = res.locals.t('chat.copy');
    // An image whose question was since undone or cleared is named instead of shown broken.
    const imagesThere = await database.read(imagesStillThere, token, imagesOf(shared.messages));
    renderPage(req, res, 'shared', { title: shared.title || res.locals.t('chat.title'), noindex: true, token, imagesThere, shared: rendered.get(`${token}\0${copyLabel}`, () => sharedView(shared, copyLabel)) });
  });

  // An image of the snapshot, to anyone with the link: only one its messages show (the snapshot is
  // read once per process; it never changes), only while the link is live and its question exists.
  const images = new SnapshotImages();
  router.get('/s/:token/files/:id', async (req, res) => {
    const token = String(req.params.token);
    const id = Number(req.params.id);
    const messageId = /^[1-9]\d{0,15}$/.test(String(req.params.id)) ? (await images.of(token, () => database.read(sharedPage, token)))?.get(id) : undefined;
    const image = messageId === undefined ? undefined : await database.read(sharedImage, token, id, messageId);
    if (!image) throw new HttpError(404, 'share.gone', NOINDEX);
    // Never kept by a shared cache (revoking must end it), and asked again each time by the browser
    // (a 304 when unchanged): the link's reader sees a revocation at the next look.
    res.set(NOINDEX).set({
      'Referrer-Policy': 'no-referrer', 'Cache-Control': 'private, no-cache',
      'Content-Type': image.mime, 'Content-Disposition': 'inline', 'X-Content-Type-Options': 'nosniff',
    });
    res.send(Buffer.from(image.data));
  });

  return router;
}

/** Each snapshot's images (id to question id), by token; the oldest read first out past `max` links. */
class SnapshotImages {
  private readonly byToken = new Map<string, Map<number, number>>();
  constructor(private readonly max = 10_000) {}

  async of(token: string, read: () => Promise<SharedPage | undefined>): Promise<Map<number, number> | undefined> {
    const known = this.byToken.get(token);
    if (known) return known;
    const page = await read();
    if (!page) return undefined; // gone is never remembered: the image query asks again anyway
    if (this.byToken.size >= this.max) this.byToken.delete(this.byToken.keys().next().value!);
    const found = imagesOf(page.messages);
    this.byToken.set(token, found);
    return found;
  }
}

const RENDERED_BYTES = 32 * 1024 * 1024;

/** Rendered pages, least recently used first out, bounded by their characters. */
class RenderedPages<T extends { messages: Array<{ html: string; filesSize?: number }> }> {
  private readonly pages = new Map<string, { page: T; size: number }>();
  private size = 0;
  constructor(private readonly max: number) {}

  get(key: string, render: () => T): T {
    const hit = this.pages.get(key);
    if (hit) {
      this.pages.delete(key);
      this.pages.set(key, hit); // most recently used last
      return hit.page;
    }
    const page = render();
    const size = page.messages.reduce((n, m) => n + m.html.length + (m.filesSize ?? 0), 0);
    if (size > this.max) return page;
    for (const [k, v] of this.pages) {
      if (this.size + size <= this.max) break;
      this.pages.delete(k);
      this.size -= v.size;
    }
    this.pages.set(key, { page, size });
    this.size += size;
    return page;
  }
}

/** The snapshot's messages as HTML: answers as sanitised markdown, questions and documents' texts as plain text. */
function sharedView(shared: SharedPage, copyLabel: string) {
  return {
    ...shared,
    messages: shared.messages.map((m) => {
      const files = (m.files ?? []).map((f) => ({ ...f, html: f.text === undefined ? '' : renderPlain(f.text) }));
      const html = m.role === 'assistant' ? renderMarkdown(m.content, { copyLabel }) : renderPlain(m.content);
      return { ...m, html, files, filesSize: files.reduce((n, f) => n + f.html.length, 0) };
    }),
  };
}
