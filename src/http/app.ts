// createApp(deps) builds the Express app: middleware, routes and the error handler. It never listens.
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import express, { type Express, type Response } from 'express';
import cookieParser from 'cookie-parser';
import { errorHandler, notFound, requireKnownBodyType } from './errors';
import { largeBodies } from './large-bodies';
import { attachmentUploads } from './uploads';
import { pickLocale, translator } from '../i18n';
import { requestLogger } from '../log';
import { PasswordHasher } from '../accounts/passwords';
import { authRoutes } from './routes/auth';
import { healthRoutes } from './routes/health';
import { walletOf } from '../ledger/buckets';
import { balanceBadge } from './balance-badge';
import { chatRoutes } from './routes/chat';
import { attachmentRoutes } from './routes/attachments';
import { homeRoutes } from './routes/home';
import { turnRoutes } from './routes/turns';
import { TurnQueue } from '../chat/turn-queue';
import { watch } from '../metrics';
import { liveHolds } from '../chat/turn';
import { adminRoutes } from './routes/admin';
import { oidcRoutes } from './routes/oidc';
import { adminApiRoutes } from './routes/admin-api';
import { rechargeRoutes } from './routes/recharge';
import { usageRoutes } from './routes/usage';
import { v1Routes } from './routes/v1';
import { keyRoutes } from './routes/keys';
import { paymentRoutes, stripeWebhook } from './routes/payments';
import { tradeNotifications } from './routes/trades';
import { adminRefunds } from './routes/admin-refunds';
import { cspNonce, csrf, securityHeaders } from './security';
import { currentUser, sessionMiddleware } from './sessions';
import { onboardingGate } from './onboarding-gate';
import { readingClock } from './clock';
import { passwordGate } from './password-gate';
import { accountRoutes } from './routes/account';
import { exportRoutes } from './routes/exports';
import { presetRoutes } from './routes/presets';
import { shareRoutes } from './routes/shares';
import { createViews, isHtmx } from './views';
import type { AppDeps, Services } from './context';

export type { AppDeps, ReloadReport, Services } from './context';

const STATIC_DIR = path.join(__dirname, '..', '..', 'static');
const HTMX_DIR = path.dirname(require.resolve('htmx.org/dist/htmx.min.js'));
// KaTeX's stylesheet and fonts, for the math in messages (markdown-math.ts): served from here, no CDN.
const KATEX_DIR = path.dirname(require.resolve('katex/dist/katex.min.css'));

/**
 * Where the language switch returns to: the page itself, with its query (filters, page number);
 * for a page that answered a form (a refused grant, a sent message) there is nothing to GET at its
 * address, so the page the form was on.
 */
function pageAddress(req: express.Request): string {
  if (req.method === 'GET' || req.method === 'HEAD') return req.originalUrl;
  const referer = req.get('referer');
  if (!referer) return '/'; // not thrown and caught: an exception cost 80 µs a POST without one
  try {
    const from = new URL(referer);
    return from.pathname + from.search;
  } catch {
    return '/';
  }
}

export function createApp(deps: AppDeps): Express {
  const { config, database, logger } = deps;
  // The pages offer the chat models; /v1 serves every model (embedding models too). Both are read
  // when a request asks, so a reloaded models file takes effect at the next request.
  const services: Services = {
    ...deps,
    get models() {
      return deps.offer.chat;
    },
    get allModels() {
      return deps.offer.all;
    },
    hasher: new PasswordHasher(config.hashConcurrency, config.hashQueueLimit),
  };
  const app = express();
  app.set('trust proxy', config.trustProxy);
  app.set('x-powered-by', false);
  app.locals.views = createViews(config.env === 'production');

  app.use(requestLogger(logger));
  app.use((_req, res, next) => {
    // A plain object in place of Express 5's prototype-less one: V8 keeps that one in dictionary
    // mode, and every render copies res.locals into its template's data (`{ ...res.locals, ...data }`,
    // a dozen times in a chat turn), which from a dictionary cost 3.4 µs a copy against 0.35 µs.
    // Only the middleware's own names are put in it (locals.ts), never a name from a request.
    res.locals = { startedAt: performance.now() } as Response['locals']; // startedAt: for the Server-Timing of rendered pages
    next();
  });
  const limits = { perUser: config.turnsPerUser, global: config.upstreamConcurrency, maxWaiting: config.queueMaxWaiting };
  const queue = new TurnQueue(limits, (err) => logger.error({ err }, 'queue position callback failed'));
  // Before the pages' headers, cookies, sessions and CSRF: /v1 takes an API key, never a session,
  // and answers JSON (its own headers: no page, so no CSP nonce to make).
  app.use('/v1', v1Routes({
    store: database, upstream: deps.upstream, queue, logger, offer: deps.offer, running: deps.running,
    perUser: config.apiPerUser, perKey: config.apiPerKey, minCompletion: config.minCompletion, bodyLimitBytes: config.bodyLimitBytes,
    responsesKeepDays: config.responsesKeepDays,
  }));
  // Before cookies, sessions and CSRF: an admin API key only, never a session cookie.
  app.use('/admin/api', adminApiRoutes(services));
  // Stripe's webhook: no session, no CSRF (its signature is its authentication), the raw body.
  app.use(stripeWebhook(services, deps.payments));
  app.use(tradeNotifications(services, deps.payments));
  app.use(cspNonce, securityHeaders(Object.values(deps.payments?.trades ?? {}).flatMap((g) => g.origins)));
  const assets = { maxAge: config.env === 'production' ? '1d' : 0, index: false as const };
  app.use('/static', express.static(STATIC_DIR, assets));
  app.use('/vendor/htmx', express.static(HTMX_DIR, assets));
  app.use('/vendor/katex', express.static(KATEX_DIR, assets));
  app.use(healthRoutes(database, { metrics: config.metrics })); // before sessions: probes and scrapers never create one

  app.use(cookieParser());
  app.use((req, res, next) => {
    // Pages carry balances, conversations, admin lists and CSRF tokens: a browser must not keep
    // them, or Back after signing out on a shared computer shows them again.
    res.set('Cache-Control', 'no-store');
    const locale = pickLocale(req);
    res.locals.locale = locale;
    res.locals.t = translator(locale);
    res.locals.path = req.path;
    // A model counted by another tokenizer than tiktoken's: its locally counted charges say they are estimates.
    res.locals.marginOf = (model: string | null) => (model ? (services.allModels.find(model)?.countMargin ?? 0) : 0);
    // Each answer names the model that wrote it (the id stored with it, should the file have dropped it since).
    res.locals.modelName = (model: string) => services.allModels.find(model)?.name ?? model;
    res.locals.returnTo = pageAddress(req);
    next();
  });
  app.use(sessionMiddleware(config, deps.sessions.store, deps.sessionSecret));
  app.use(currentUser(database, config));
  app.use(readingClock(database)); // times in the reader's zone (clock.ts)
  app.use(attachmentUploads(config.attachments)); // multipart, for POST /attachments only: before the guard that refuses it elsewhere
  app.use(requireKnownBodyType);
  const large = largeBodies();
  app.use(large.admit);
  app.use(express.json({ limit: config.bodyLimitBytes }));
  app.use(express.urlencoded({ extended: false, limit: config.bodyLimitBytes, parameterLimit: 1000 }));
  app.use(large.parsed);
  app.use(csrf(deps.sessionSecret));
  app.use(onboardingGate(config)); // an account waiting for approval sees only the waiting page
  app.use(passwordGate); // a password an admin set (reset, roster) is changed before anything else

  app.use(async (req, res, next) => {
    // The balance badge in the header of every page. An htmx request's answer is never a whole
    // page (views.ts renders the layout only when htmx did not ask), so it has no header to fill:
    // a turn, an estimate as the user types, a follow of an answer read no wallet for it.
    if (req.user && !isHtmx(req)) {
      const wallet = await database.read(walletOf, req.user.id, new Date());
      res.locals.balance = wallet.total;
      res.locals.balanceText = balanceBadge(res.locals.t, res.locals.locale, wallet);
    }
    next();
  });
  app.use(homeRoutes(services));
  app.use(chatRoutes(services));
  app.use(attachmentRoutes(services));
  app.use(turnRoutes(services, { store: database, turnsPerUser: config.turnsPerUser, minCompletion: config.minCompletion, upstream: deps.upstream, queue, logger }));
  watch({ queue: () => queue.stats(), holdsOpen: () => liveHolds.size, pool: () => database.poolStats?.() });
  app.use(oidcRoutes(services)); // before authRoutes: the sign-in page's provider buttons
  app.use(authRoutes(services));
  app.use(accountRoutes(services));
  app.use(usageRoutes(services));
  app.use(rechargeRoutes(services));
  app.use(paymentRoutes(services, deps.payments));
  app.use(adminRefunds(services, deps.payments));
  app.use(keyRoutes(services));
  app.use(exportRoutes(services));
  app.use(shareRoutes(services));
  app.use(presetRoutes(services));
  app.use('/admin', adminRoutes(services));

  app.use(notFound);
  app.use(errorHandler(logger));
  return app;
}
