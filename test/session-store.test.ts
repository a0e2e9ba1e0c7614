// The SQLite session store shared by several processes: a busy answer is tried again, anything
// else is passed on at once.
import session from 'express-session';
import { retryWhenBusy } from '../src/storage/sqlite/session-store';

class Flaky extends session.Store {
  calls = 0;
  constructor(private readonly failures: number, private readonly code = 'SQLITE_BUSY') {
    super();
  }
  get(_sid: string, cb: (err: unknown, s?: session.SessionData | null) => void): void {
    this.calls++;
    if (this.calls <= this.failures) return cb(Object.assign(new Error('SQLITE_BUSY: database is locked'), { code: this.code }));
    cb(null, { cookie: {} } as session.SessionData);
  }
  set(_sid: string, _s: session.SessionData, cb?: (err?: unknown) => void): void {
    cb?.();
  }
  destroy(_sid: string, cb?: (err?: unknown) => void): void {
    cb?.();
  }
}

const get = (store: session.Store) => new Promise<{ err: unknown; found: unknown }>((resolve) => store.get('sid', (err, found) => resolve({ err, found })));

test('a session read answered SQLITE_BUSY is tried again until it succeeds', async () => {
  const store = new Flaky(2);
  retryWhenBusy(store);
  const { err, found } = await get(store);
  expect(err).toBeFalsy();
  expect(found).toEqual({ cookie: {} });
  expect(store.calls).toBe(3);
});

test('past five tries, or for any other error, the error is passed on', async () => {
  const busy = new Flaky(100);
  retryWhenBusy(busy);
  expect((await get(busy)).err).toMatchObject({ code: 'SQLITE_BUSY' });
  expect(busy.calls).toBe(5);
  const broken = new Flaky(1, 'SQLITE_CORRUPT');
  retryWhenBusy(broken);
  expect((await get(broken)).err).toMatchObject({ code: 'SQLITE_CORRUPT' });
  expect(broken.calls).toBe(1);
});

test('a call without a callback still works', () => {
  const store = new Flaky(0);
  retryWhenBusy(store);
  expect(() => store.destroy('sid')).not.toThrow();
});
