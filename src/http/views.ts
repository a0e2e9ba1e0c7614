// Eta templates. Pages render inside views/layout.eta; htmx requests get just the page body.
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Request, Response } from 'express';
import { Eta } from 'eta';
import { madeOnce } from '../made-once';
import type {} from './locals'; // what res.locals holds, typed for every handler that renders

export const VIEWS_DIR = path.join(__dirname, '..', '..', 'views');

export function createViews(cache: boolean): Eta {
  // autoEscape is on by default: <%= %> escapes, only <%~ %> (used for trusted partials) does not.
  const eta = new Eta({ views: VIEWS_DIR, cache, autoEscape: true, autoTrim: [false, 'nl'] });
  // Eta finds a template's file on every render and include (a JSON key, path joins and a
  // relative path: a few µs each, a dozen times in a chat turn); the answer for a name, and for the
  // template including it, never changes, so it is kept. A path outside the views throws each time.
  const find = eta.resolvePath!;
  const found = new Map<string, string>();
  eta.resolvePath = function (template, options) {
    const key = `${options?.filepath ?? ''}\0${template}`;
    return madeOnce(found, key, () => find.call(this, template, options));
  };
  return eta;
}

/** htmx sets HX-Request on its requests; history restores want the full page. */
export function isHtmx(req: Request): boolean {
  return req.get('HX-Request') === 'true' && req.get('HX-History-Restore-Request') !== 'true';
}

/** The templates, which app.ts keeps in app.locals. */
export const viewsOf = (res: Response): Eta => res.app.locals.views as Eta;

/** Renders views/pages/<name>.eta with res.locals and `data`, in the layout unless htmx asked. */
export function renderPage(req: Request, res: Response, name: string, data: Record<string, unknown> = {}, status = 200): void {
  const eta = viewsOf(res);
  const it = { ...res.locals, ...data, page: name, fullPage: !isHtmx(req) };
  const html = eta.render(`pages/${name}`, it);
  // How long the server spent on the page, for browsers' devtools and for `npm run bench`.
  if (typeof res.locals.startedAt === 'number') res.set('Server-Timing', `app;dur=${(performance.now() - res.locals.startedAt).toFixed(1)}`);
  res.status(status).type('html').send(html);
}

/** Text for HTML, escaped by hand where no template renders it (SSE partials, one-line notices). */
export const escapeText = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
