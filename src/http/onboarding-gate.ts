// Two things every page needs from the registration mode: whether to offer "Create account" (not
// when closed), and, for an account waiting for approval, the waiting page instead of any other
// (it can sign out and switch language, nothing else: no turn, no key, no recharge).
import type { RequestHandler } from 'express';
import type { Config } from '../config';
import { wantsJson } from './errors';
import { renderPage } from './views';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** Whether the header and the sign-in page offer "Create account" (onboarding-gate.ts). */
      offerRegistration: boolean;
    }
  }
}

const PENDING_MAY = new Set(['/logout', '/lang']);

export function onboardingGate(config: Config): RequestHandler {
  const offer = config.registrationMode !== 'closed';
  return (req, res, next) => {
    res.locals.offerRegistration = offer;
    if (req.user?.status !== 'pending' || PENDING_MAY.has(req.path)) return next();
    if (wantsJson(req)) {
      res.status(403).json({ error: { status: 403, message: res.locals.t('pending.message') } });
      return;
    }
    renderPage(req, res, 'pending', { title: res.locals.t('pending.title') }, 403);
  };
}
