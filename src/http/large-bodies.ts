// Two large form bodies at a time per user (a send beside the estimate of the same long message,
// which may still be uploading on a slow connection), the rest refused before they are read.
// Parsing a form runs on the event loop (about 7 ms a megabyte) before any route can refuse it, so
// forty large estimates or sends at once from one user would hold up everyone else's pages and
// answers; two at a time, and the rest answered 429 unread, they cannot. The prompt estimate, free
// and asked for again and again, also has a budget of bytes a minute for its large bodies, checked
// before they are read: a flood of large estimates one after another is refused unread too. Sign-in
// and registration forms are small: a large body from someone not signed in is refused outright
// (413). Per process, like the other throttles of CPU: each process parses only what it receives.
import type { RequestHandler } from 'express';
import { HttpError } from './http-error';
import { escapeText } from './views';

/** A body this large (a long message, a pasted document) takes a user's one place. */
export const LARGE_BODY_BYTES = 64 * 1024;
/** How many of a user's large bodies may be read at once. */
export const LARGE_BODIES_PER_USER = 2;
/** Bytes of large estimate bodies a user may send a minute: two of the longest Chinese message (about 900 KB each). */
export const ESTIMATE_LARGE_BYTES_PER_MINUTE = 2 * 1024 * 1024;

/** Large estimate bodies' bytes per user in the current minute. */
class EstimateBytes {
  private readonly used = new Map<number, { since: number; bytes: number }>();

  take(userId: number, bytes: number, now = Date.now()): boolean {
    let entry = this.used.get(userId);
    if (!entry || now - entry.since >= 60_000) {
      if (this.used.size > 10_000) this.forgetOld(now);
      entry = { since: now, bytes: 0 };
      this.used.set(userId, entry);
    }
    if (entry.bytes + bytes > ESTIMATE_LARGE_BYTES_PER_MINUTE) return false;
    entry.bytes += bytes;
    return true;
  }

  private forgetOld(now: number): void {
    for (const [id, entry] of this.used) if (now - entry.since >= 60_000) this.used.delete(id);
  }
}

export function largeBodies(): { admit: RequestHandler; parsed: RequestHandler } {
  const reading = new Map<number, number>();
  const release = new WeakMap<object, () => void>();
  const estimates = new EstimateBytes();
  const admit: RequestHandler = (req, res, next) => {
    const length = Number(req.get('content-length') ?? (req.get('transfer-encoding') ? Infinity : 0));
    if (!(length > LARGE_BODY_BYTES)) return next();
    res.set('Connection', 'close'); // a refused body is not read: the connection cannot carry another request
    if (!req.user) return next(new HttpError(413));
    const userId = req.user.id;
    if (req.path === '/estimate' && !estimates.take(userId, length)) {
      // The estimate slot says so, as for the estimate's other limits; sending is not affected.
      return void res.status(429).type('html').send(escapeText(res.locals.t('chat.estimate_throttled')));
    }
    const now = reading.get(userId) ?? 0;
    if (now >= LARGE_BODIES_PER_USER) return next(new HttpError(429));
    reading.set(userId, now + 1);
    let released = false;
    const done = () => {
      if (released) return;
      released = true;
      const left = (reading.get(userId) ?? 1) - 1;
      if (left > 0) reading.set(userId, left);
      else reading.delete(userId);
    };
    release.set(req, done);
    res.once('close', done); // a body that fails to parse, or a client that goes away
    next();
  };
  // After the parsers: the body is read and parsed, the place is free for the user's next one.
  const parsed: RequestHandler = (req, _res, next) => {
    release.get(req)?.();
    next();
  };
  return { admit, parsed };
}
