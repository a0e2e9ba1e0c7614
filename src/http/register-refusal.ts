// The answer to a registration the mode or the invite does not allow: 403 (closed, or no invite),
// 410 (a link used up, expired or revoked), 404 (a link that never existed); the page says which.
import type { Request, Response } from 'express';
import type { RegisterGate } from '../onboarding/registration';
import { wantsJson } from './errors';
import { HttpError } from './http-error';
import { renderPage } from './views';

export type RefusedBecause = (RegisterGate & { open: false })['reason'];

const STATUS: Record<RefusedBecause, number> = { closed: 403, need_invite: 403, used_up: 410, expired: 410, revoked: 410, unknown: 404 };

export function refuseRegistration(req: Request, res: Response, reason: RefusedBecause): void {
  const key = `register.refused.${reason}` as const;
  if (wantsJson(req)) throw new HttpError(STATUS[reason], key);
  renderPage(req, res, 'register', { title: res.locals.t('register.title'), gate: { open: false, reason } }, STATUS[reason]);
}
