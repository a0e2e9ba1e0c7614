// Sessions in DATA_DIR/sessions.sqlite through connect-sqlite3 (its own sqlite3 connection).
import fs from 'node:fs';
import path from 'node:path';
import session from 'express-session';
import connectSqlite3 from 'connect-sqlite3';
import sqlite3 from 'sqlite3';
import type { Config } from '../../config';

const BUSY_TIMEOUT_MS = 5000;

export interface SessionStore {
  store: session.Store;
  close(): Promise<void>;
}

export function openSqliteSessionStore(config: Pick<Config, 'dataDir'>): SessionStore {
  const SQLiteStore = connectSqlite3(session);
  fs.mkdirSync(config.dataDir, { recursive: true });
  const db = new sqlite3.Database(path.join(config.dataDir, 'sessions.sqlite'));
  db.configure('busyTimeout', BUSY_TIMEOUT_MS);
  // connect-sqlite3 reads `concurrentDb` (not `concurrentDB`) to switch the file to WAL.
  const store = new SQLiteStore({ db, table: 'sessions', concurrentDb: true } as never) as session.Store;
  retryWhenBusy(store);
  return {
    store,
    close: () => new Promise((resolve) => db.close(() => resolve())),
  };
}


type Callback = (err?: unknown, ...rest: unknown[]) => void;

/**
 * Several processes share sessions.sqlite. node-sqlite3 sometimes answers SQLITE_BUSY at once,
 * without waiting out the busy timeout (seen with three servers under load); the store's
 * operations are idempotent (read, replace, touch, delete), so a busy one is tried again a few
 * times before the request fails.
 */
export function retryWhenBusy(store: session.Store): void {
  const target = store as unknown as Record<string, (...args: unknown[]) => void>;
  for (const method of ['get', 'set', 'touch', 'destroy']) {
    if (typeof target[method] !== 'function') continue; // touch is optional for a store
    const original = target[method].bind(store);
    target[method] = (...args: unknown[]) => {
      const done = typeof args.at(-1) === 'function' ? (args.pop() as Callback) : undefined;
      const attempt = (n: number) =>
        original(...args, (err?: unknown, ...rest: unknown[]) => {
          if (n < 5 && (err as { code?: string } | undefined)?.code === 'SQLITE_BUSY') return void setTimeout(() => attempt(n + 1), 20 * 2 ** n);
          done?.(err, ...rest);
        });
      attempt(1);
    };
  }
}
