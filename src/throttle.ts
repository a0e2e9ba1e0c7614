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
