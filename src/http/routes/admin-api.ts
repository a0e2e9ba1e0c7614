// /admin/api/: JSON for an organisation's scripts, with an admin API key (`Authorization: Bearer
// tca-...`). Mounted before cookies, sessions and CSRF: a session cookie is never read here (no
// CSRF surface), and an admin key is never read by the pages. A member's key (`tc-`) is 403, a
// read-only key 403 on writes. The routes are the table in admin-api/*.ts; the OpenAPI document
// is made from the same table.
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { rateLimit } from 'express-rate-limit';
import { useAdminKey, type AdminKey } from '../../admin/api-keys';
import { checkKey } from '../../accounts/api-keys';
import type { Services } from '../context';
import { DatabaseRateStore } from '../rate-store';
import { apiSecurityHeaders } from '../security';
import { apiErrorHandler, sendFail } from '../admin-api/errors';
import { groupRoutes } from '../admin-api/groups';
import { inviteRoutes } from '../admin-api/invites';
import { openApiDocument } from '../admin-api/openapi';
import { reportRoutes } from '../admin-api/reports';
import { ApiFail, type ApiRoute } from '../admin-api/table';
import { userRoutes } from '../admin-api/users';

/** Requests one admin key may make a minute, on every process together. */
export const ADMIN_API_PER_MINUTE = 600;

export const ADMIN_API_ROUTES: readonly ApiRoute[] = [...userRoutes, ...groupRoutes, ...inviteRoutes, ...reportRoutes];

declare module 'express-serve-static-core' {
  interface Request {
    adminKey?: AdminKey;
  }
}

const WHY_NOT: Record<string, string> = {
  malformed: 'An admin API key is needed: Authorization: Bearer tca-... (made on /admin/api-keys).',
  unknown: 'Unknown admin API key.',
  revoked: 'This admin API key has been revoked.',
  expired: 'This admin API key has expired.',
  not_admin: 'The admin who made this key is no longer an enabled admin.',
};

export function adminApiRoutes(services: Services): Router {
  const { database, config } = services;
  const router = express.Router();
  const document = openApiDocument(ADMIN_API_ROUTES);
  const limits = { standardHeaders: 'draft-8' as const, legacyHeaders: false, validate: { trustProxy: false, xForwardedForHeader: false } };
  const tooMany: RequestHandler = (_req, res) => sendFail(res, new ApiFail(429, 'rate_limited', 'Too many requests; try again later.'));

  router.use(apiSecurityHeaders(), (_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  router.get('/openapi.json', (_req, res) => res.json(document));
  // Refused keys per client address, as sign-ins are counted: guessing keys is slowed down.
  router.use(rateLimit({
    ...limits, store: new DatabaseRateStore(database, 'adminapi-ip:'), windowMs: config.loginRateWindowMs, limit: config.loginRateLimitPerIp,
    requestWasSuccessful: (_req, res) => res.statusCode !== 401 && res.statusCode !== 403, skipSuccessfulRequests: true, handler: tooMany,
  }));
  router.use(authenticate(services));
  router.use(rateLimit({
    ...limits, store: new DatabaseRateStore(database, 'adminapi-key:'), windowMs: 60_000, limit: ADMIN_API_PER_MINUTE,
    keyGenerator: (req) => String(req.adminKey!.id), handler: tooMany,
  }));
  router.use(express.json({ limit: config.bodyLimitBytes }));

  for (const route of ADMIN_API_ROUTES) {
    router[route.method](route.path, async (req: Request, res: Response) => {
      const key = req.adminKey!;
      if (route.scope === 'write' && key.scope !== 'write') throw new ApiFail(403, 'read_only', 'This admin API key may only read.');
      const body = await route.handler({ services, key }, req, res);
      res.status(route.created ? 201 : 200).json(body);
    });
  }
  router.use((_req, _res, next) => next(new ApiFail(404, 'not_found', 'No such endpoint; see /admin/api/openapi.json.')));
  router.use(apiErrorHandler(services.logger));
  return router;
}

/** Accepts an admin key (counting the request as one use); anything else is 401, a member's key 403. */
function authenticate({ database }: Services): RequestHandler {
  return async (req, res, next) => {
    const header = req.get('authorization') ?? '';
    const presented = /^Bearer\s+(\S+)$/i.exec(header)?.[1] ?? '';
    const now = new Date();
    if (presented.startsWith('tc-') && (await database.read(checkKey, presented, now)).ok) {
      return sendFail(res, new ApiFail(403, 'member_key', "A member's API key does not work here: use an admin API key (tca-...)."));
    }
    const check = await database.write(useAdminKey, presented, now);
    if (!check.ok) {
      res.set('WWW-Authenticate', 'Bearer realm="tokenchat admin API"');
      return sendFail(res, new ApiFail(401, check.reason === 'malformed' ? 'no_key' : check.reason, WHY_NOT[check.reason]!));
    }
    req.adminKey = check.key;
    next();
  };
}
