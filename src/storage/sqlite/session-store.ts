// Sessions in DATA_DIR/sessions.sqlite: express-session's store on its own better-sqlite3
// connection (WAL), each statement prepared once. The table is the one connect-sqlite3 made
// (sid, expired in ms, sess as JSON), so sessions survive the change of store.
import fs from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import session from 'express-session';
import type { Config } from '../../config';
import { DEFAULT_SESSION_AGE_MS, KnownExpiries, touchSlackMs } from '../session-expiry';

const BUSY_TIMEOUT_MS = 5000;
const SWEEP_MS = 15 * 60_000;

export interface SessionStore {
  store: session.Store;
  close(): Promise<void>;
}

type Callback = (err?: unknown, ...rest: unknown[]) => void;

export class SqliteSessionStore extends session.Store {
  private readonly db: SqliteDatabase.Database;
  private readonly statements;
  private readonly sweep: NodeJS.Timeout;

  constructor(file: string, private readonly now: () => number = Date.now) {
    super();
    this.db = new SqliteDatabase(file, { timeout: BUSY_TIMEOUT_MS });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec('CREATE TABLE IF NOT EXISTS sessions (sid PRIMARY KEY, expired, sess)');
    this.statements = {
      get: this.db.prepare<[string, number], { sess: string; expired: number }>('SELECT sess, expired FROM sessions WHERE sid = ? AND ? <= expired'),
      set: this.db.prepare<[string, number, string]>('INSERT OR REPLACE INTO sessions (sid, expired, sess) VALUES (?, ?, ?)'),
      destroy: this.db.prepare<[string]>('DELETE FROM sessions WHERE sid = ?'),
      // Only a live session, and only when the expiry moves by TOUCH_SLACK_MS or more.
      touch: this.db.prepare<[number, string, number, number]>('UPDATE sessions SET expired = ? WHERE sid = ? AND expired >= ? AND expired <= ?'),
      sweep: this.db.prepare<[number]>('DELETE FROM sessions WHERE expired < ?'),
    };
    this.sweep = setInterval(() => this.run(() => this.statements.sweep.run(this.now())), SWEEP_MS).unref();
  }

  /** Runs a statement, and hands an error to the callback (or drops it: the sweep has none). */
  private run<T>(work: () => T, cb?: Callback): void {
    let result: T;
    try {
      result = work();
    } catch (err) {
      cb?.(err);
      return;
    }
    cb?.(null, result);
  }

  private expiryOf(sess: session.SessionData): number {
    const { expires, maxAge } = sess.cookie ?? {};
    if (expires) return new Date(expires).getTime();
    return this.now() + (maxAge ?? DEFAULT_SESSION_AGE_MS);
  }

  override get(sid: string, cb: (err: unknown, sess?: session.SessionData | null) => void): void {
    this.run(() => {
      const row = this.statements.get.get(sid, this.now());
      if (!row) return null;
      this.readExpiry.remember(sid, row.expired);
      return JSON.parse(row.sess) as session.SessionData;
    }, cb as Callback);
  }

  /**
   * The expiry `get` read, for the same request's touch: when the touch would move it by less than
   * the slack, its UPDATE (a write transaction even when it changes nothing, about 40 µs) is not run.
   * Taken by the touch; a request that never touches leaves its entry (the map is bounded).
   */
  private readonly readExpiry = new KnownExpiries();

  override set(sid: string, sess: session.SessionData, cb?: (err?: unknown) => void): void {
    this.readExpiry.forget(sid);
    this.run(() => void this.statements.set.run(sid, this.expiryOf(sess), JSON.stringify(sess)), cb as Callback);
  }

  override destroy(sid: string, cb?: (err?: unknown) => void): void {
    this.readExpiry.forget(sid);
    this.run(() => void this.statements.destroy.run(sid), cb as Callback);
  }

  override touch(sid: string, sess: session.SessionData, cb?: () => void): void {
    const expiry = this.expiryOf(sess);
    const unmoved = this.readExpiry.unmoved(sid, expiry, sess);
    this.readExpiry.forget(sid);
    // The statement would write nothing: the expiry just read is within the slack of the new one.
    if (unmoved) return void cb?.();
    this.run(() => void this.statements.touch.run(expiry, sid, this.now(), expiry - touchSlackMs(sess)), cb as Callback);
  }

  close(): void {
    clearInterval(this.sweep);
    this.db.close();
  }
}

export function openSqliteSessionStore(config: Pick<Config, 'dataDir'>): SessionStore {
  fs.mkdirSync(config.dataDir, { recursive: true });
  const store = new SqliteSessionStore(path.join(config.dataDir, 'sessions.sqlite'));
  return { store, close: async () => store.close() };
}
