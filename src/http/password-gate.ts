// An account whose password an admin reset with "must change" ticked, or a roster import generated,
// is sent to /account/password before any other page. Sign-out and the language switch still work;
// /v1 is mounted before this and takes keys, not sessions, so keys are unaffected.
import type { RequestHandler } from 'express';
import { wantsJson } from './errors';

export const CHANGE_PASSWORD_PATH = '/account/password';
const MAY = new Set([CHANGE_PASSWORD_PATH, '/logout', '/lang']);

export const passwordGate: RequestHandler = (req, res, next) => {
  if (!req.user?.must_change_password || MAY.has(req.path)) return next();
  if (wantsJson(req)) {
    res.status(403).json({ error: { status: 403, message: res.locals.t('account.must_change') } });
    return;
  }
  if (req.get('hx-request')) res.set('HX-Redirect', CHANGE_PASSWORD_PATH);
  res.redirect(303, CHANGE_PASSWORD_PATH);
};
