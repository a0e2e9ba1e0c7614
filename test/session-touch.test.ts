// A session's touch, on the store the server uses for its database (sessions.sqlite beside SQLite,
// the sessions table on PostgreSQL): written only when it moves the expiry by the slack, so a page
// request does not write the sessions table every time; a session used on keeps living.
import { promisify } from 'node:util';
import SqliteDatabase from 'better-sqlite3';
import type session from 'express-session';
import path from 'node:path';
import { openSessionStore, type SessionStore } from '../src/storage';
import { TOUCH_SLACK_MS } from '../src/storage/session-expiry';
import { ON_POSTGRES, openTempDatabase } from './helpers';

const HOUR = 3_600_000;
let temp: Awaited<ReturnType<typeof openTempDatabase>>;
let sessions: SessionStore;
beforeAll(async () => {
  temp = await openTempDatabase();
  sessions = openSessionStore({ dataDir: temp.dir, databaseUrl: undefined, databasePoolSize: 1, sessionIdleMs: HOUR }, temp.database);
});
afterAll(async () => {
  await sessions.close();
  await temp.close();
});

/** Session data as express-session hands it to the store: a cookie that expires at `expires`, an hour's idle lifetime. */
const data = (expires: number) => ({ cookie: { expires: new Date(expires).toISOString(), originalMaxAge: HOUR }, userId: 7 }) as unknown as session.SessionData;
/** The expiry stored for `sid`, in whole seconds (PostgreSQL's store keeps seconds). */
async function storedExpiry(sid: string): Promise<number> {
  if (ON_POSTGRES) return Number(await temp.sql.value('SELECT extract(epoch FROM expire) FROM sessions WHERE sid = ?', sid));
  const file = new SqliteDatabase(path.join(temp.dir, 'sessions.sqlite'), { readonly: true });
  try {
    return Math.ceil(Number(file.prepare('SELECT expired FROM sessions WHERE sid = ?').pluck().get(sid)) / 1000);
  } finally {
    file.close();
  }
}

test('a touch that moves the expiry by less than the slack is not written; one that moves it by more is', async () => {
  const { store } = sessions;
  const set = promisify(store.set.bind(store)) as (sid: string, sess: session.SessionData) => Promise<void>;
  const touch = (sid: string, sess: session.SessionData) => new Promise<unknown>((resolve) => store.touch!(sid, sess, ((err?: unknown) => resolve(err ?? null)) as () => void));
  const expires = Math.ceil(Date.now() / 1000) * 1000 + HOUR; // a whole second
  await set('page-user', data(expires));
  expect(await storedExpiry('page-user')).toBe(expires / 1000);
  // Requests a few seconds apart: nothing written.
  for (const later of [5_000, 30_000, TOUCH_SLACK_MS - 1_000]) {
    expect(await touch('page-user', data(expires + later))).toBeNull();
    expect(await storedExpiry('page-user')).toBe(expires / 1000);
  }
  // A minute on: the expiry moves.
  expect(await touch('page-user', data(expires + TOUCH_SLACK_MS + 1_000))).toBeNull();
  expect(await storedExpiry('page-user')).toBe((expires + TOUCH_SLACK_MS + 1_000) / 1000);
  // And is judged from there.
  expect(await touch('page-user', data(expires + TOUCH_SLACK_MS + 30_000))).toBeNull();
  expect(await storedExpiry('page-user')).toBe((expires + TOUCH_SLACK_MS + 1_000) / 1000);
});

test('a destroyed session stays gone whatever touches follow', async () => {
  const { store } = sessions;
  const set = promisify(store.set.bind(store)) as (sid: string, sess: session.SessionData) => Promise<void>;
  const destroy = promisify(store.destroy.bind(store)) as (sid: string) => Promise<void>;
  const get = promisify(store.get.bind(store)) as (sid: string) => Promise<unknown>;
  const expires = Date.now() + HOUR;
  await set('signed-out', data(expires));
  await destroy('signed-out');
  for (const later of [1_000, TOUCH_SLACK_MS * 2]) await new Promise((resolve) => store.touch!('signed-out', data(expires + later), resolve as () => void));
  expect((await get('signed-out')) ?? null).toBeNull(); // connect-pg-simple answers undefined, ours null
});
