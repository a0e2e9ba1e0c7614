// An account whose password an admin reset with "must change" ticked, or a roster import generated,
// is sent to /account/password before any other page. Sign-out and the language switch still work;
// /v1 is mounted before this and takes keys, not sessions, so keys are unaffected.
import type { RequestHandler } from 'express';
import { wantsJson } from './errors';
import { isHtmx } from './views';

export const CHANGE_PASSWORD_PATH = '/account/password';
const MAY = new Set([CHANGE_PASSWORD_PATH, '/logout', '/lang']);

export const passwordGate: RequestHandler = (req, res, next) => {
  if (!req.user?.must_change_password || MAY.has(req.path)) return next();
  if (wantsJson(req)) {
    res.status(403).json({ error: { status: 403, message: res.locals.t('account.must_change') } });
    return;
  }
  // htmx follows a 303 inside its fetch and would swap the page into a fragment: it is told to go instead.
  if (isHtmx(req)) {
    res.status(403).set('HX-Redirect', CHANGE_PASSWORD_PATH).end();
    return;
  }
  res.redirect(303, CHANGE_PASSWORD_PATH);
};
