// The SQLite session store: what a request reads and writes in DATA_DIR/sessions.sqlite.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import SqliteDatabase from 'better-sqlite3';
import type session from 'express-session';
import { SqliteSessionStore } from '../src/storage/sqlite/session-store';
import { TOUCH_SLACK_MS } from '../src/storage/session-expiry';

let dir: string;
let clock: number;
let store: SqliteSessionStore;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-sessions-'));
  file = path.join(dir, 'sessions.sqlite');
  clock = 1_800_000_000_000;
  store = new SqliteSessionStore(file, () => clock);
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const HOUR = 3_600_000;
const data = (expires: number, userId = 7) => ({ cookie: { expires: new Date(expires).toISOString(), originalMaxAge: HOUR }, userId }) as unknown as session.SessionData;
const get = (sid: string): Promise<unknown> => promisify(store.get.bind(store))(sid);
const expiryInFile = (sid: string) => new SqliteDatabase(file, { readonly: true }).prepare('SELECT expired FROM sessions WHERE sid = ?').pluck().get(sid);

test('a session set is read back until it expires, and not after', async () => {
  store.set('a', data(clock + HOUR));
  expect(await get('a')).toMatchObject({ userId: 7 });
  clock += HOUR + 1;
  expect(await get('a')).toBeNull();
  expect(await get('never')).toBeNull();
});

test('a touch moves the expiry only when it moves by a minute or more, and never revives an expired session', () => {
  store.set('a', data(clock + HOUR));
  clock += TOUCH_SLACK_MS - 1;
  store.touch('a', data(clock + HOUR));
  expect(expiryInFile('a')).toBe(clock - TOUCH_SLACK_MS + 1 + HOUR); // not written
  clock += 1;
  store.touch('a', data(clock + HOUR));
  expect(expiryInFile('a')).toBe(clock + HOUR);
  clock += 2 * HOUR;
  store.touch('a', data(clock + HOUR));
  expect(expiryInFile('a')).toBe(clock - HOUR);
});

test('with a short idle lifetime the touch slack is a tenth of it: a session used every 14 s of a minute lives on', async () => {
  const minute = (expires: number) => ({ cookie: { expires: new Date(expires).toISOString(), originalMaxAge: 60_000 }, userId: 7 }) as unknown as session.SessionData;
  store.set('short', minute(clock + 60_000));
  for (let i = 0; i < 10; i++) {
    clock += 14_000;
    expect(await get('short')).toMatchObject({ userId: 7 });
    store.touch('short', minute(clock + 60_000));
  }
  expect(expiryInFile('short')).toBe(clock + 60_000);
});

test("a request's touch that would not move the expiry takes no write lock; one that would still writes", async () => {
  const touch = (sid: string, sess: session.SessionData) => new Promise<unknown>((resolve) => store.touch(sid, sess, ((err?: unknown) => resolve(err ?? null)) as () => void));
  store.set('a', data(clock + HOUR));
  // Another connection (another process, the command line) holds the write lock meanwhile.
  const other = new SqliteDatabase(file);
  other.exec('BEGIN IMMEDIATE');
  try {
    clock += TOUCH_SLACK_MS - 1;
    expect(await get('a')).toMatchObject({ userId: 7 }); // as express-session does: the read, then the touch
    expect(await touch('a', data(clock + HOUR))).toBeNull(); // it did not wait for the lock (5 s, then SQLITE_BUSY)
  } finally {
    other.exec('COMMIT');
    other.close();
  }
  expect(expiryInFile('a')).toBe(clock - TOUCH_SLACK_MS + 1 + HOUR);
  clock += 1;
  expect(await get('a')).toMatchObject({ userId: 7 });
  expect(await touch('a', data(clock + HOUR))).toBeNull();
  expect(expiryInFile('a')).toBe(clock + HOUR);
});

test('destroy removes the session; the quarter-hourly sweep removes expired ones', async () => {
  jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
  try {
    const swept = new SqliteSessionStore(file, () => clock);
    swept.set('old', data(clock + 1000));
    swept.set('live', data(clock + HOUR));
    swept.set('gone', data(clock + HOUR));
    swept.destroy('gone');
    clock += 2000;
    jest.advanceTimersByTime(15 * 60_000);
    const sids = new SqliteDatabase(file, { readonly: true }).prepare('SELECT sid FROM sessions ORDER BY sid').pluck().all();
    expect(sids).toEqual(['live']);
    swept.close();
  } finally {
    jest.useRealTimers();
  }
});

test('sessions written by connect-sqlite3, the store before this one, are still read', async () => {
  store.close();
  fs.rmSync(file);
  const old = new SqliteDatabase(file);
  old.exec('CREATE TABLE sessions (sid PRIMARY KEY, expired, sess)');
  old.prepare('INSERT INTO sessions VALUES (?, ?, ?)').run('legacy', clock + HOUR, JSON.stringify({ cookie: {}, userId: 3 }));
  old.close();
  store = new SqliteSessionStore(file, () => clock);
  expect(await get('legacy')).toMatchObject({ userId: 3 });
});

test('an error of the database reaches the callback, not the process', async () => {
  store.close();
  await expect(get('a')).rejects.toThrow(/not open/);
  store = new SqliteSessionStore(file, () => clock); // for afterEach
});
