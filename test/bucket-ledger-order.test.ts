// The ledger page and its CSV list own tokens and allowance rows together by time, while each
// table's rows keep their id order. On PostgreSQL ids and times disagree when turns reserve at
// once: a row's time is when its statement began, its id is taken once it has the balance's lock,
// so a reserve that waited gets the later id and the earlier time. A CSV read in chunks by id
// then wrote such a row twice (seen in a CI run: 122 rows for 121 in the ledger). Rows are
// written here with their times out of id order, on purpose, in both tables.
import type { AppStore } from '../src/db';
import { bucketLedgerChunks, bucketLedgerPage, type BucketLedgerRow } from '../src/reports/bucket-ledger';
import { openTempDatabase, type Sql } from './helpers';

let db: Awaited<ReturnType<typeof openTempDatabase>>;
let store: AppStore;
let sql: Sql;
let userId: number;
let ownIds: number[];
let allowanceIds: number[];

const at = (minute: number) => `2026-12-07T08:${String(minute).padStart(2, '0')}:00.000Z`;
const keyOf = (r: BucketLedgerRow) => `${r.bucket ?? 'own'}:${r.id}`;

beforeAll(async () => {
  db = await openTempDatabase();
  ({ database: store, sql } = db);
  userId = Number(await sql.value(`INSERT INTO users (username, username_key, password_hash) VALUES ('ann', 'ann', '$argon2id$x') RETURNING id`));
  const bucket = Number(await sql.value(`INSERT INTO allowances (user_id, group_name, balance, size, period, ends_at)
    VALUES (?, 'Class 3', 0, 100, '2026-12', '2027-01-01T00:00:00.000Z') RETURNING id`, userId));
  // Own rows in id order, their minutes not: 1 3 2 6 5 4 9 8 7 (ids 2, 5, 8 waited behind the one before).
  ownIds = [];
  let balance = 0;
  for (const minute of [1, 3, 2, 6, 5, 4, 9, 8, 7]) {
    balance += 10;
    ownIds.push(Number(await sql.value(`INSERT INTO ledger (user_id, kind, amount, balance_after, created_at) VALUES (?, 'grant', 10, ?, ?) RETURNING id`,
      userId, balance, at(minute))));
  }
  // Allowance rows between and among them, also out of id order: 2 7 4 10.
  allowanceIds = [];
  balance = 0;
  for (const minute of [2, 7, 4, 10]) {
    balance += 5;
    allowanceIds.push(Number(await sql.value(`INSERT INTO allowance_ledger (allowance_id, user_id, kind, amount, balance_after, created_at)
      VALUES (?, ?, 'adjust', 5, ?, ?) RETURNING id`, bucket, userId, balance, at(minute))));
  }
}, 30_000);

afterAll(() => db?.close());

async function csv(size: number): Promise<BucketLedgerRow[]> {
  const next = bucketLedgerChunks(store, userId, {}, size);
  const rows: BucketLedgerRow[] = [];
  for (let chunk = await next(); chunk.length > 0; chunk = await next()) {
    rows.push(...chunk);
    expect(rows.length).toBeLessThanOrEqual(13); // never loops
  }
  return rows;
}

/** Every row once, and each table's rows in id order (`direction` 1 oldest first, -1 newest first). */
function expectEachOnceInIdOrder(rows: BucketLedgerRow[], direction: 1 | -1) {
  expect(new Set(rows.map(keyOf)).size).toBe(rows.length);
  const ids = (bucket: string | null) => rows.filter((r) => r.bucket === bucket).map((r) => r.id);
  const sorted = (xs: number[]) => [...xs].sort((a, b) => direction * (a - b));
  expect(ids(null)).toEqual(sorted(ownIds));
  expect(ids('Class 3')).toEqual(sorted(allowanceIds));
}

test('the CSV has every row of both tables once, each table in id order, however it is chunked', async () => {
  const whole = await csv(500);
  expectEachOnceInIdOrder(whole, 1);
  expect(whole.map((r) => r.kind)).toEqual(['grant', 'adjust', 'grant', 'grant', 'grant', 'grant', 'grant', 'adjust', 'adjust', 'grant', 'grant', 'grant', 'adjust']);
  for (const size of [1, 2, 3, 4]) expect((await csv(size)).map(keyOf)).toEqual(whole.map(keyOf));
});

test('the ledger page, page by page, shows every row once, newest first, each table in id order', async () => {
  const { rows: one, hasMore } = await store.read(bucketLedgerPage, userId, {}, 1, 100);
  expect(hasMore).toBe(false);
  expectEachOnceInIdOrder(one, -1);
  // Interleaved by time, newest first (the minutes in each table, newest id first: own 7 8 9 4 5 6 2 3 1, allowance 10 4 7 2).
  expect(one.map((r) => r.kind)).toEqual(['adjust', 'grant', 'grant', 'grant', 'adjust', 'adjust', 'grant', 'grant', 'grant', 'adjust', 'grant', 'grant', 'grant']);
  for (const perPage of [1, 2, 3, 5]) {
    const shown: BucketLedgerRow[] = [];
    for (let page = 1; page <= 13; page++) {
      const { rows, hasMore } = await store.read(bucketLedgerPage, userId, {}, page, perPage);
      shown.push(...rows);
      if (!hasMore) break;
    }
    expectEachOnceInIdOrder(shown, -1);
    expect(shown.map(keyOf)).toEqual(one.map(keyOf));
  }
});
