// The language switch. (The start page is the chat page, routes/chat.ts.)
import { Router } from 'express';
import type { Services } from '../context';
import { isLocale, LOCALE_COOKIE } from '../../i18n';
import { HttpError } from '../http-error';
import { bodyOf } from '../input';

const ONE_YEAR_MS = 365 * 24 * 3600 * 1000;

/** Only same-site paths are followed back, never another origin. */
export function safeReturnPath(value: unknown): string {
  return typeof value === 'string' && /^\/(?![/\\])/.test(value) ? value : '/';
}

export function homeRoutes(_services: Services): Router {
  const router = Router();

  router.post('/lang', (req, res) => {
    const { lang, back } = bodyOf(req);
    if (!isLocale(lang)) throw new HttpError(400);
    res.cookie(LOCALE_COOKIE, lang, { maxAge: ONE_YEAR_MS, sameSite: 'lax', httpOnly: true, secure: req.secure });
    res.redirect(303, safeReturnPath(back));
  });

  return router;
}
