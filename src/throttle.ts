// Throttles for sign-in and registration (express-rate-limit, in memory: one process).
import type { Request, RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { Config } from './config';
import { HttpError } from './http-error';

const tooMany: RequestHandler = (_req, _res, next) => next(new HttpError(429, 'login.throttled'));

function usernameKey(req: Request): string {
  const name = req.body?.username;
  return typeof name === 'string' ? name.normalize('NFKC').trim().toLowerCase().slice(0, 64) : '';
}

export function authThrottles(config: Config): { perIp: RequestHandler; perUsername: RequestHandler } {
  const common = {
    windowMs: config.loginRateWindowMs,
    standardHeaders: 'draft-8' as const,
    legacyHeaders: false,
    handler: tooMany,
    // TRUST_PROXY is the operator's explicit choice, documented in the README.
    validate: { trustProxy: false, xForwardedForHeader: false },
  };
  return {
    perIp: rateLimit({ ...common, limit: config.loginRateLimitPerIp }),
    // Failed attempts per account, whatever address they come from (password spraying, botnets).
    perUsername: rateLimit({
      ...common,
      limit: config.loginRateLimitPerUser,
      keyGenerator: (req) => `user:${usernameKey(req)}`,
      skip: (req) => usernameKey(req) === '',
      skipSuccessfulRequests: true,
    }),
  };
}

/**
 * Failed code redemptions per signed-in user: codes carry 100 random bits, so this is about load
 * and noise rather than guessing, but one account should not be able to hammer the table.
 */
export function redeemThrottle(config: Config): RequestHandler {
  return rateLimit({
    windowMs: config.loginRateWindowMs,
    limit: config.redeemRateLimitPerUser,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: (_req, _res, next) => next(new HttpError(429, 'recharge.throttled')),
    keyGenerator: (req) => `redeem:${req.user?.id ?? 0}`,
    skip: (req) => req.user === undefined,
    skipSuccessfulRequests: true,
    validate: { trustProxy: false, xForwardedForHeader: false },
  });
}
