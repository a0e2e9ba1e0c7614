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

/**
 * The register form switched to another language: what was typed comes back with the page, in its
 * address, except the passwords (never put in a URL) and the CSRF token.
 */
const KEPT_ON_SWITCH = ['username', 'invite'] as const;

function withKeptFields(path: string, form: Record<string, unknown>): string {
  if (path !== '/register') return path;
  const query = new URLSearchParams();
  for (const name of KEPT_ON_SWITCH) {
    const value = form[name];
    if (typeof value === 'string' && value !== '' && value.length <= 200) query.set(name, value);
  }
  return query.size ? `${path}?${query}` : path;
}

export function homeRoutes(_services: Services): Router {
  const router = Router();

  router.post('/lang', (req, res) => {
    const { lang, back } = bodyOf(req);
    if (!isLocale(lang)) throw new HttpError(400);
    res.cookie(LOCALE_COOKIE, lang, { maxAge: ONE_YEAR_MS, sameSite: 'lax', httpOnly: true, secure: req.secure });
    res.redirect(303, withKeptFields(safeReturnPath(back), bodyOf(req)));
  });

  return router;
}
