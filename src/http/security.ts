// Security headers (helmet, with a per-request CSP nonce) and CSRF protection (csrf-csrf,
// double-submit cookie bound to the session).
import crypto from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import { doubleCsrf } from 'csrf-csrf';
import { isHtmx } from './views';
import { bodyOf } from './input';

export const CSRF_COOKIE = 'tc.csrf';
export const CSRF_FIELD = '_csrf';

const NONCE_BYTES = 16;
/** Random bytes for 256 nonces, drawn at once: a call to the random source costs about 30 µs however few it gives. */
const NONCE_POOL_BYTES = 256 * NONCE_BYTES;
let noncePool = Buffer.alloc(0);
let nonceAt = 0;

/** 16 bytes of the CSPRNG's, base64, each used once (as crypto.randomUUID takes its UUIDs from a pool). */
export function newNonce(): string {
  if (nonceAt + NONCE_BYTES > noncePool.length) {
    noncePool = crypto.randomBytes(NONCE_POOL_BYTES);
    nonceAt = 0;
  }
  nonceAt += NONCE_BYTES;
  return noncePool.toString('base64', nonceAt - NONCE_BYTES, nonceAt);
}

/** A fresh nonce per response: the page's script tags carry it, and htmx's hx-csp checks it. */
export const cspNonce: RequestHandler = (_req, res, next) => {
  res.locals.nonce = newNonce();
  next();
};

/** For /v1's JSON and event streams: nothing in them may run or be framed. */
export function apiSecurityHeaders(): RequestHandler {
  const helmetHeaders = helmet({ contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } } });
  // These headers do not depend on the request: helmet is asked for them once, and each request
  // gets them by a loop (helmet's dozen middlewares per request cost as much as a SQL statement).
  const headers: Array<[string, string]> = [];
  const removed: string[] = [];
  let asked = false;
  const recorder = {
    setHeader: (name: string, value: unknown) => headers.push([name, String(value)]),
    removeHeader: (name: string) => removed.push(name),
  };
  helmetHeaders({} as Request, recorder as unknown as Response, (err?: unknown) => (asked = err === undefined));
  if (!asked) return helmetHeaders;
  return (_req, res, next) => {
    for (const name of removed) res.removeHeader(name);
    for (const [name, value] of headers) res.setHeader(name, value);
    next();
  };
}

/** `payTo`: the origins of the payment pages Pay may redirect to besides Stripe's (Alipay's, WeChat Pay's). */
export function securityHeaders(payTo: readonly string[] = []): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        // No 'unsafe-inline' and no 'unsafe-eval': all script is in static files.
        scriptSrc: ["'self'", (_req, res) => `'nonce-${(res as Response).locals.nonce}'`],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        // The Pay form is answered with a redirect to the gateway's page, which form-action also governs.
        formAction: ["'self'", 'https://checkout.stripe.com', ...payTo],
        frameAncestors: ["'none'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        upgradeInsecureRequests: null, // set by the TLS proxy when there is one
      },
    },
    strictTransportSecurity: false, // only meaningful behind TLS; the reverse proxy sets it
    referrerPolicy: { policy: 'same-origin' },
  });
}

/**
 * JSON bodies are exempt: a browser cannot send Content-Type application/json cross-site without
 * a CORS preflight, and this server grants no CORS. Forms and everything else need the token.
 */
function isJson(req: Request): boolean {
  return /^application\/json\s*(;|$)/i.test(req.get('content-type') ?? '');
}

export function csrf(secret: string) {
  const { doubleCsrfProtection, generateCsrfToken } = doubleCsrf({
    getSecret: () => secret,
    // Signed-in tokens are bound to the session id; anonymous ones (login, register) to nothing.
    getSessionIdentifier: (req) => (req.session?.userId !== undefined ? req.sessionID : ''),
    cookieName: CSRF_COOKIE,
    cookieOptions: { sameSite: 'lax', path: '/', httpOnly: true, secure: false },
    getCsrfTokenFromRequest: (req) => {
      const token = bodyOf(req)[CSRF_FIELD] ?? req.get('x-csrf-token');
      return typeof token === 'string' ? token : undefined; // anything else fails the check, as it always did
    },
    skipCsrfProtection: isJson,
  });
  /** Checks state-changing requests and puts a token for forms in res.locals.csrfToken. */
  const protect: RequestHandler = (req, res, next) => {
    doubleCsrfProtection(req, res, (err?: unknown) => {
      // A page left open after its session ended (signed out in another tab, disabled, expired):
      // its token no longer matches. htmx is sent to sign in, not shown "form expired" in a slot.
      if (err && !req.user && isHtmx(req)) return res.status(401).set('HX-Redirect', '/login').end();
      if (err) return next(err);
      let token: string | undefined; // one token per response, however many forms use it
      res.locals.csrfToken = () => (token ??= generateCsrfToken(req, res, { cookieOptions: { secure: req.secure } }));
      next();
    });
  };
  return protect;
}
