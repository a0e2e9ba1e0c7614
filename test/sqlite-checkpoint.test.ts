// SQLite checkpoints off the event loop (storage/sqlite/checkpointer.ts): the server's connection
// never checkpoints in its commits while a worker thread of its own does it, so the WAL stays
// bounded; a thread that dies gives the checkpoints back to the connection; closing ends the
// thread first, and the last connection removes the WAL. Real SQLite files, a real thread.
// SQLite's alone: jest.pg.config.js leaves it out, as busy.test.ts.
import fs from 'node:fs';
import { migrateSqlite, openSqlite, type SqliteStore } from '../src/storage/sqlite/store';
import { INLINE_CHECKPOINT_PAGES } from '../src/storage/sqlite/checkpointer';
import { startTestServer, tempDir } from './helpers';
import { until } from './chat-helpers';

const autocheckpoint = (store: SqliteStore) => store.raw.pragma('wal_autocheckpoint', { simple: true });
const walBytes = (dir: string) => fs.statSync(`${dir}/tokenchat.sqlite-wal`).size;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let dir: string;
let store: SqliteStore;
beforeEach(() => {
  dir = tempDir();
  store = openSqlite(dir);
  migrateSqlite(store);
  store.raw.exec('CREATE TABLE scratch (id INTEGER PRIMARY KEY, body BLOB)');
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Writes `rounds` MiB, one transaction of 64 rows of 16 KiB a round, `gapMs` apart. */
async function writeRounds(rounds: number, gapMs: number): Promise<void> {
  const insert = store.raw.prepare('INSERT INTO scratch (body) VALUES (randomblob(16384))');
  const round = store.raw.transaction(() => {
    for (let i = 0; i < 64; i++) insert.run();
  });
  for (let r = 0; r < rounds; r++) {
    round();
    await pause(gapMs);
  }
}

test('the connection does no checkpoint of its own, and the thread keeps the WAL from growing: 20 MiB written, the WAL a few', async () => {
  expect(autocheckpoint(store)).toBe(INLINE_CHECKPOINT_PAGES);
  const failures: string[] = [];
  const checkpointer = store.checkpointOffLoop((reason) => failures.push(reason), 20);
  await until('the thread ready', () => checkpointer.offEventLoop);
  expect(autocheckpoint(store)).toBe(0);
  await writeRounds(20, 80);
  // Without the thread's checkpoints this WAL would hold all 20 MiB (the connection does none).
  expect(walBytes(dir)).toBeLessThan(4 * 1024 * 1024);
  expect(store.raw.prepare('SELECT count(*) FROM scratch').pluck().get()).toBe(20 * 64);
  expect(failures).toEqual([]);
});

test('a thread that dies gives the checkpoints back to the connection, and says so', async () => {
  const failures: string[] = [];
  const checkpointer = store.checkpointOffLoop((reason) => failures.push(reason), 20);
  await until('the thread ready', () => checkpointer.offEventLoop);
  await checkpointer.thread!.terminate();
  await until('inline again', () => !checkpointer.offEventLoop);
  expect(autocheckpoint(store)).toBe(INLINE_CHECKPOINT_PAGES);
  expect(failures).toEqual(['the checkpoint thread ended']);
  // And the WAL stays bounded by the connection's own checkpoints again.
  await writeRounds(12, 0);
  expect(walBytes(dir)).toBeLessThan(8 * 1024 * 1024);
});

test('closing ends the thread before the connection: the last connection checkpoints and removes the WAL', async () => {
  const checkpointer = store.checkpointOffLoop(() => {}, 20);
  await until('the thread ready', () => checkpointer.offEventLoop);
  const thread = checkpointer.thread!;
  const ended = new Promise((resolve) => thread.once('exit', resolve));
  await writeRounds(2, 0);
  expect(fs.existsSync(`${dir}/tokenchat.sqlite-wal`)).toBe(true);
  await store.close();
  await ended;
  // Had the thread's connection stayed open, the WAL would have stayed too.
  expect(fs.existsSync(`${dir}/tokenchat.sqlite-wal`)).toBe(false);
  store = openSqlite(dir); // for afterEach, and to read what was written
  expect(store.raw.prepare('SELECT count(*) FROM scratch').pluck().get()).toBe(128);
});

test('a server on SQLite checkpoints off its event loop', async () => {
  const srv = await startTestServer();
  try {
    await until('the thread ready', () => autocheckpoint(srv.database as SqliteStore) === 0);
  } finally {
    await srv.close();
  }
});
