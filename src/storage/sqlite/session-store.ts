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
  return {
    store,
    close: () => new Promise((resolve) => db.close(() => resolve())),
  };
}

