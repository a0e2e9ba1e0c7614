// Sessions in PostgreSQL: connect-pg-simple's store on the app's pool, with its touch written only
// when it moves the expiry by the slack (as the SQLite store's): connect-pg-simple writes every
// touch, so every page request of every user was an UPDATE of the sessions table (a round trip,
// a row version for VACUUM) to move the expiry by a few seconds.
import session from 'express-session';
import connectPgSimple from 'connect-pg-simple';
import { touchSlackMs } from '../sqlite/session-store';

const PgStore = connectPgSimple(session);

/** Expiries this process wrote, kept at most (then forgotten: the next touch of each writes again). */
const WRITTEN_KEPT = 10_000;

export class PostgresSessionStore extends PgStore {
  /**
   * The expiry (ms) this process last wrote for each session. What is stored is at least that: a
   * session's expiry only moves forward (another process's write moves it further), so a touch
   * that would move it by less than the slack from here is not written.
   */
  private readonly written = new Map<string, number>();

  private remember(sid: string, sess: session.SessionData): void {
    const expires = sess.cookie?.expires;
    if (!expires) return; // connect-pg-simple then counts from now: nothing known to skip by
    if (this.written.size >= WRITTEN_KEPT) this.written.clear();
    this.written.set(sid, new Date(expires).getTime());
  }

  override set(sid: string, sess: session.SessionData, callback?: (err?: unknown) => void): void {
    this.written.delete(sid);
    super.set(sid, sess, (err?: unknown) => {
      if (!err) this.remember(sid, sess);
      callback?.(err);
    });
  }

  override touch(sid: string, sess: session.SessionData, callback?: () => void): void {
    const expires = sess.cookie?.expires;
    const written = this.written.get(sid);
    if (expires && written !== undefined && written > new Date(expires).getTime() - touchSlackMs(sess)) return void callback?.();
    this.written.delete(sid);
    super.touch(sid, sess, ((err?: unknown) => {
      if (!err) this.remember(sid, sess);
      (callback as ((err?: unknown) => void) | undefined)?.(err);
    }) as () => void);
  }

  override destroy(sid: string, callback?: (err?: unknown) => void): void {
    this.written.delete(sid);
    super.destroy(sid, callback);
  }
}
