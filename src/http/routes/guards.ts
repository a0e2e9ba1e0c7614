// Who may reach a route. Pages send the signed-out to /login (htmx via HX-Redirect); JSON
// endpoints answer 401 JSON; admin routes answer 404 to everyone else, so they do not exist to them.
import type { Request, RequestHandler } from 'express';
import { wantsJson } from '../errors';
import { HttpError } from '../http-error';
import { isHtmx } from '../views';

const unauthorized: RequestHandler = (_req, res) => {
  res.status(401).json({ error: { status: 401, message: res.locals.t('error.401') } });
};

/** For pages and forms. */
export const signedIn: RequestHandler = (req, res, next) => {
  if (req.user) return next();
  if (isHtmx(req)) return res.status(401).set('HX-Redirect', '/login').end();
  if (wantsJson(req)) return unauthorized(req, res, next);
  // A page asked for comes back after signing in (a form's address has nothing to GET).
  res.redirect(303, req.method === 'GET' && req.originalUrl !== '/' ? `/login?next=${encodeURIComponent(req.originalUrl)}` : '/login');
};

/** For JSON endpoints, whatever the client accepts. */
export const signedInJson: RequestHandler = (req, res, next) => (req.user ? next() : unauthorized(req, res, next));

export const adminOnly: RequestHandler = (req, _res, next) =>
  next(req.user?.role === 'admin' ? undefined : new HttpError(404));

/** The route's :id as a positive integer; anything else is a page that does not exist (404). */
export function idParam(req: Request): number {
  const id = Number(req.params.id);
  if (!Number.isSafeInteger(id) || id < 1) throw new HttpError(404);
  return id;
}
