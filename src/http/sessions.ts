// Cookie sessions (their stores are storage/sqlite/session-store.ts and storage/postgres/session-store.ts), and the middleware that turns a session into
// the signed-in user, ending it when it is too old, the user is disabled or their epoch moved on.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { RequestHandler } from 'express';
import session from 'express-session';
import type { Config } from '../config';
import type { Store } from '../storage/op';
import { findById, type User } from '../accounts/users';

declare module 'express-session' {
  interface SessionData {
    userId: number;
    epoch: number;
    /** When the user signed in (ms); the absolute lifetime counts from here. */
    signedInAt: number;
    /** Without JavaScript, the question Undo removed, for the textbox of the page it redirects to. */
    undone?: { conversationId: number; text: string };
  }
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      user?: User;
    }
  }
}

export const SESSION_COOKIE = 'tc.sid';
const SECRET_FILE = 'session-secret';

/** SESSION_SECRET if set; else a random secret generated once and kept in DATA_DIR. */
export function loadSessionSecret(config: Config): string {
  if (config.sessionSecret) return config.sessionSecret;
  const file = path.join(config.dataDir, SECRET_FILE);
  fs.mkdirSync(config.dataDir, { recursive: true });
  try {
    // 'wx' fails if the file exists, so two processes starting together agree on one secret.
    fs.writeFileSync(file, crypto.randomBytes(48).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const secret = fs.readFileSync(file, 'utf8').trim();
  if (secret.length < 32) throw new Error(`${file} holds a secret shorter than 32 characters`);
  return secret;
}

export function sessionMiddleware(config: Config, store: session.Store, secret: string): RequestHandler {
  return session({
    name: SESSION_COOKIE,
    secret,
    store,
    resave: false,
    saveUninitialized: false,
    rolling: true, // each request pushes the idle expiry forward
    cookie: { httpOnly: true, sameSite: 'lax', secure: 'auto', maxAge: config.sessionIdleMs },
  });
}

/** Sets req.user and res.locals.user from the session, or ends a session that may not go on. */
export function currentUser(store: Store, config: Config): RequestHandler {
  return async (req, res, next) => {
    const { userId, epoch, signedInAt } = req.session ?? {};
    if (userId === undefined) return next();
    const user = await store.read(findById, userId);
    const expired = signedInAt === undefined || Date.now() - signedInAt > config.sessionAbsoluteMs;
    if (!user || user.disabled || user.session_epoch !== epoch || expired) {
      await new Promise<void>((resolve, reject) => req.session.destroy((err) => (err ? reject(err) : resolve())));
      res.clearCookie(SESSION_COOKIE);
      res.locals.sessionEnded = true;
      return next();
    }
    req.user = user;
    res.locals.user = user;
    next();
  };
}
