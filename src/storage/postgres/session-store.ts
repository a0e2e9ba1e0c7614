// Sessions in PostgreSQL: connect-pg-simple's store on the app's pool, with its touch written only
// when it moves the expiry by the slack (as the SQLite store's): connect-pg-simple writes every
// touch, so every page request of every user was an UPDATE of the sessions table (a round trip,
// a row version for VACUUM) to move the expiry by a few seconds.
import session from 'express-session';
import connectPgSimple from 'connect-pg-simple';
import { KnownExpiries } from '../session-expiry';

const PgStore = connectPgSimple(session);

export class PostgresSessionStore extends PgStore {
  /**
   * The expiry (ms) this process last wrote for each session. What is stored is at least that: a
   * session's expiry only moves forward (another process's write moves it further), so a touch
   * that would move it by less than the slack from here is not written.
   */
  private readonly written = new KnownExpiries();

  private remember(sid: string, sess: session.SessionData): void {
    const expires = sess.cookie?.expires;
    // Without one connect-pg-simple counts from now: nothing known to skip by.
    if (expires) this.written.remember(sid, new Date(expires).getTime());
  }

  override set(sid: string, sess: session.SessionData, callback?: (err?: unknown) => void): void {
    this.written.forget(sid);
    super.set(sid, sess, (err?: unknown) => {
      if (!err) this.remember(sid, sess);
      callback?.(err);
    });
  }

  override touch(sid: string, sess: session.SessionData, callback?: () => void): void {
    const expires = sess.cookie?.expires;
    if (expires && this.written.unmoved(sid, new Date(expires).getTime(), sess)) return void callback?.();
    this.written.forget(sid);
    super.touch(sid, sess, ((err?: unknown) => {
      if (!err) this.remember(sid, sess);
      (callback as ((err?: unknown) => void) | undefined)?.(err);
    }) as () => void);
  }

  override destroy(sid: string, callback?: (err?: unknown) => void): void {
    this.written.forget(sid);
    super.destroy(sid, callback);
  }
}
