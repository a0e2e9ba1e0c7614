// The 404 handler, the one error handler, and the body-type guard. Errors render in the site
// layout for browsers and as JSON for JSON clients; a stack trace never reaches a response.
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { NotAnAdmin } from '../admin/actions';
import { HttpError } from './http-error';
import { translator, type MessageKey } from '../i18n';
import type { Logger } from '../log';
import { BusyError } from '../accounts/limiter';
import { isDatabaseFault } from '../storage/faults';
import { renderPage } from './views';

export function wantsJson(req: Request): boolean {
  return Boolean(req.is('application/json')) || req.accepts(['html', 'json']) === 'json';
}

const BODY_TYPES = ['application/x-www-form-urlencoded', 'application/json'];

/** A request body of any other type (multipart, XML, text...) is refused with 415 before parsing. */
export const requireKnownBodyType: RequestHandler = (req, _res, next) => {
  // Already read (body-parser's mark): an attachments upload, read by http/uploads.ts with its own limits.
  if ((req as { _body?: boolean })._body) return next();
  if (req.is(BODY_TYPES) === false) return next(new HttpError(415));
  next();
};

export const notFound: RequestHandler = (_req, _res, next) => next(new HttpError(404));

/** How long a client is asked to wait before sending again while the database is away (it is probed every second). */
export const DATABASE_RETRY_AFTER_S = 5;

const KNOWN_STATUS = new Set([400, 401, 403, 404, 413, 415, 429, 500, 503]);

/** Maps anything thrown to an HttpError; unexpected errors become 500. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof BusyError) return new HttpError(503, undefined, { 'Retry-After': '5' });
  if (isDatabaseFault(err)) return new HttpError(503, 'error.database', { 'Retry-After': String(DATABASE_RETRY_AFTER_S) });
  if (err instanceof NotAnAdmin) return new HttpError(404);
  const e = err as { status?: number; statusCode?: number; code?: string; type?: string };
  if (e.code === 'EBADCSRFTOKEN') return new HttpError(403);
  const status = e.status ?? e.statusCode;
  // body-parser errors: entity.too.large (413), entity.parse.failed (400), charset/encoding (415)...
  if (e.type && typeof status === 'number' && status >= 400 && status < 500) return new HttpError(status);
  return new HttpError(500);
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, next) => {
    const httpError = toHttpError(err);
    const status = httpError.status;
    // An outage is logged where it is found (the store's probe), not with a stack for every request it fails.
    if (httpError.messageKey === 'error.database') logger.warn({ err: (err as Error).message, reqId: req.id }, 'request failed: the database is unavailable');
    else if (status >= 500 && !(err instanceof BusyError)) logger.error({ err, reqId: req.id }, 'request failed');
    // Express closes the connection of an answer cut short. One already complete (a session that
    // could not be saved after it was sent: the database went away) keeps its connection.
    if (res.headersSent) return res.writableEnded ? undefined : next(err);
    res.set(httpError.headers);
    const t = res.locals.t ?? translator('en');
    const key = httpError.messageKey ?? (`error.${KNOWN_STATUS.has(status) ? status : 500}` as MessageKey);
    const message = t(key);
    if (wantsJson(req)) {
      res.status(status).json({ error: { status, message } });
      return;
    }
    if (!res.locals.t) {
      res.locals.t = t;
      res.locals.locale = 'en';
    }
    renderPage(req, res, 'error', { title: t('error.title'), status, message }, status);
  };
}
