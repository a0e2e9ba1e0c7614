// Allowances that refill (issue 24): a bucket per (user, group) apart from own tokens, spent first,
// refilled once per period by whichever writer sees the period turn, every change a row, and
// `ledger verify` checking both kinds of bucket. Periods follow an injected clock.
import { migrateStore, openStore } from '../src/storage';
import type { AppStore } from '../src/db';
import { setAllowance, setTimeZone, type AllowanceConfig, AllowanceError } from '../src/groups/allowances';
import { addMembers, createGroup, deleteGroup, listGroups, removeMembers } from '../src/groups/groups';
import { periodOf } from '../src/ledger/periods';
import { allowanceLeft, refillDue } from '../src/ledger/buckets';
import { balanceOf, grant, openAccount, recordDelivered, recoverHolds, reserve, settle, release, takeBack, type Hold, type ReserveResult } from '../src/ledger/ledger';
import { verifyLedger } from '../src/ledger/verify';
import { loadModels, type ModelInfo } from '../src/metering/models';
import { ON_POSTGRES, openTempDatabase, type Sql } from './helpers';

const flat: ModelInfo = loadModels().find('demo')!; // 1 and 1: a token costs one balance token

let temp: Awaited<ReturnType<typeof openTempDatabase>>;
let database: AppStore;
let sql: Sql;
let n = 0;

async function newUser(own = 0): Promise<number> {
  n++;
  const id = Number(await sql.value(`INSERT INTO users (username, username_key, password_hash) VALUES (?, ?, '$argon2id$x') RETURNING id`, `student${n}`, `student${n}`));
  await database.write(openAccount, id, 0);
  if (own > 0) await grant(database, id, own);
  return id;
}

let groupSeq = 0;
async function groupWith(config: AllowanceConfig | null, members: number[]): Promise<number> {
  const id = await database.write(createGroup, null, `Class ${++groupSeq}`);
  if (members.length) await database.write(addMembers, null, id, members, SHANGHAI_DEC);
  if (config) await database.write(setAllowance, null, id, config, 'now', SHANGHAI_DEC);
  return id;
}

const monthly = (amount: number, more: Partial<AllowanceConfig> = {}): AllowanceConfig => ({ amount, period: 'month', mode: 'reset', cap: null, join: 'full', ...more });

// Shanghai is 8 hours ahead of UTC: its January starts at 16:00 UTC on 31 December.
const SHANGHAI_DEC = new Date('2026-12-20T04:00:00Z');
const LAST_SECOND = new Date('2026-12-31T15:59:59Z');
const NEW_YEAR = new Date('2026-12-31T16:00:01Z');

let turn = 0;
async function hold(userId: number, promptTokens: number, maxCompletion: number, now: Date, db = database): Promise<ReserveResult> {
  return reserve(db, { userId, turnKey: `t${++turn}`, model: flat, promptTokens, maxCompletion, now });
}
const held = (r: ReserveResult): Hold => {
  if (r.status !== 'held') throw new Error(`expected a hold, got ${r.status}`);
  return r.hold;
};
const usage = (promptTokens: number, completionTokens: number, now: Date) => ({ promptTokens, completionTokens, source: 'reported' as const, outcome: 'ok' as const, now });

const bucketRows = (userId: number) =>
  sql.all('SELECT kind, amount, balance_after AS after, period FROM allowance_ledger WHERE user_id = ? ORDER BY id', userId);
const buckets = (userId: number) => sql.all('SELECT group_name AS "group", balance, size, period FROM allowances WHERE user_id = ? ORDER BY id', userId);

beforeEach(async () => {
  temp = await openTempDatabase();
  ({ database, sql } = temp);
  await database.write(setTimeZone, null, 'Asia/Shanghai');
});
afterEach(async () => {
  expect(await database.read(verifyLedger, 3_600_000)).toEqual([]);
  await temp.close();
});

describe('periods', () => {
  test('a month in a zone ahead of UTC starts on the day before in UTC; a daylight-saving day is as long as it is', () => {
    expect(periodOf('month', 'Asia/Shanghai', LAST_SECOND)).toMatchObject({ label: '2026-12', endsAt: '2026-12-31T16:00:00.000Z' });
    expect(periodOf('month', 'Asia/Shanghai', NEW_YEAR)).toMatchObject({ label: '2027-01', startsAt: '2026-12-31T16:00:00.000Z', endsAt: '2027-01-31T16:00:00.000Z' });
    // New York springs forward on 8 March 2026: that day has 23 hours.
    expect(periodOf('day', 'America/New_York', new Date('2026-03-08T12:00:00Z'))).toMatchObject({ startsAt: '2026-03-08T05:00:00.000Z', endsAt: '2026-03-09T04:00:00.000Z' });
    // Santiago skips its midnight on 6 September 2026: the day starts at 01:00 local.
    expect(periodOf('day', 'America/Santiago', new Date('2026-09-06T12:00:00Z'))).toMatchObject({ startsAt: '2026-09-06T04:00:00.000Z', endsAt: '2026-09-07T03:00:00.000Z' });
    expect(periodOf('week', 'UTC', new Date('2027-01-01T12:00:00Z')).label).toBe('2026-W53');
  });
});

describe('the allowance bucket', () => {
  test('a member gets the allowance at once; a turn spends it before own tokens and gives back what it did not use', async () => {
    const student = await newUser(500);
    await groupWith(monthly(1000), [student]);
    expect(await buckets(student)).toEqual([{ group: expect.stringMatching(/^Class /), balance: 1000, size: 1000, period: '2026-12' }]);
    const h = held(await hold(student, 100, 200, SHANGHAI_DEC));
    expect(JSON.parse((await sql.value('SELECT parts FROM holds WHERE id = ?', h.id)) as string)).toEqual([{ a: expect.any(Number), n: 300, e: '2026-12-31T16:00:00.000Z' }]);
    expect(await database.read(balanceOf, student)).toBe(500); // own tokens untouched
    await settle(database, h, usage(100, 50, SHANGHAI_DEC));
    expect(await database.read(allowanceLeft, student, SHANGHAI_DEC)).toBe(850);
    expect(await bucketRows(student)).toEqual([
      { kind: 'refill', amount: 1000, after: 1000, period: '2026-12' },
      { kind: 'reserve', amount: -300, after: 700, period: null },
      { kind: 'settle', amount: 150, after: 850, period: null },
    ]);
  });

  test('a hold larger than the allowance takes the rest from own tokens; the charge spends the allowance first', async () => {
    const student = await newUser(1000);
    await groupWith(monthly(100), [student]);
    const h = held(await hold(student, 100, 200, SHANGHAI_DEC)); // 300: 100 allowance + 200 own
    expect(await database.read(balanceOf, student)).toBe(800);
    const done = await settle(database, h, usage(100, 50, SHANGHAI_DEC)); // 150: the allowance's 100, then 50 own
    expect(done.charge).toBe(150);
    expect(await database.read(balanceOf, student)).toBe(950);
    expect(await database.read(allowanceLeft, student, SHANGHAI_DEC)).toBe(0);
    // A release gives each part back to its own bucket.
    const r = held(await hold(student, 10, 10, SHANGHAI_DEC));
    await release(database, r);
    expect(await database.read(balanceOf, student)).toBe(950);
  });

  test('turns after the first (the one-statement take and close on SQLite) write the same rows; one the bucket cannot pay whole is split', async () => {
    const student = await newUser(1000);
    await groupWith(monthly(500), [student]);
    for (let i = 0; i < 3; i++) await settle(database, held(await hold(student, 50, 50, SHANGHAI_DEC)), usage(50, 10, SHANGHAI_DEC));
    await release(database, held(await hold(student, 50, 50, SHANGHAI_DEC)));
    expect((await bucketRows(student)).map((r) => `${r.kind} ${r.amount} ${r.after}`)).toEqual([
      'refill 500 500', 'reserve -100 400', 'settle 40 440', 'reserve -100 340', 'settle 40 380', 'reserve -100 280', 'settle 40 320',
      'reserve -100 220', 'release 100 320',
    ]);
    const split = held(await hold(student, 200, 200, SHANGHAI_DEC)); // 400: the bucket's 320, then 80 own
    expect(JSON.parse(split.parts!)).toEqual([{ a: expect.any(Number), n: 320, e: '2026-12-31T16:00:00.000Z' }]);
    await settle(database, split, usage(200, 200, SHANGHAI_DEC));
    expect(await database.read(balanceOf, student)).toBe(1000 - 80);
    expect(await database.read(allowanceLeft, student, SHANGHAI_DEC)).toBe(0);
  });

  test('answers at once count holds from a bucket and from own tokens together, wherever each is counted; all closed, none open; verify names a wrong count', async () => {
    const student = await newUser(1000);
    await groupWith(monthly(250), [student]);
    const at = (maxOpen: number) => reserve(database, { userId: student, turnKey: `t${++turn}`, model: flat, promptTokens: 50, maxCompletion: 50, now: SHANGHAI_DEC, maxOpen });
    const first = held(await at(3)); // from the bucket (the first turn decides in a transaction)
    const second = held(await at(3)); // from the bucket (the one-statement take on SQLite)
    const third = held(await at(3)); // 50 left in the bucket, 50 from own tokens
    expect([first, second, third].map((h) => (JSON.parse(h.parts!) as { n: number }[])[0]!.n)).toEqual([100, 100, 50]);
    expect(await at(3)).toMatchObject({ status: 'busy' });
    const counted = async () => sql.get(`SELECT (SELECT open_holds FROM balances WHERE user_id = ?) AS own,
      (SELECT sum(open_holds) FROM allowances WHERE user_id = ?) AS bucket`, student, student);
    // SQLite counts a hold taken whole from one bucket on that bucket; PostgreSQL counts all on the balance row.
    expect(await counted()).toEqual(ON_POSTGRES ? { own: 3, bucket: 0 } : { own: 1, bucket: 2 });
    await settle(database, second, usage(50, 10, SHANGHAI_DEC)); // gives 40 back to the bucket
    const fourth = held(await at(3));
    expect(await at(3)).toMatchObject({ status: 'busy' });
    await Promise.all([first, third, fourth].map((h) => release(database, h)));
    expect(await counted()).toEqual({ own: 0, bucket: 0 });
    expect(await database.read(verifyLedger, 3_600_000)).toEqual([]);
    await sql.run('UPDATE allowances SET open_holds = open_holds + 1 WHERE user_id = ?', student);
    expect(await database.read(verifyLedger, 3_600_000)).toEqual([expect.objectContaining({ userId: student, problem: expect.stringContaining('open') })]);
    await sql.run('UPDATE allowances SET open_holds = open_holds - 1 WHERE user_id = ?', student);
  });

  test('with no tokens in either bucket a turn is refused and nothing is written', async () => {
    const student = await newUser(0);
    await groupWith(monthly(10), [student]);
    const r = await hold(student, 100, 10, SHANGHAI_DEC);
    expect(r).toMatchObject({ status: 'insufficient', balance: 10 });
    expect(await sql.value('SELECT count(*) FROM holds WHERE user_id = ?', student)).toBe(0);
  });

  test('reset: what is left expires as its own row when the month turns, and the new month starts full', async () => {
    const student = await newUser();
    await groupWith(monthly(1000), [student]);
    await settle(database, held(await hold(student, 100, 100, SHANGHAI_DEC)), usage(100, 100, SHANGHAI_DEC));
    await settle(database, held(await hold(student, 10, 10, NEW_YEAR)), usage(10, 10, NEW_YEAR));
    expect((await bucketRows(student)).filter((r) => r.kind === 'refill' || r.kind === 'expire')).toEqual([
      { kind: 'refill', amount: 1000, after: 1000, period: '2026-12' },
      { kind: 'expire', amount: -800, after: 0, period: null },
      { kind: 'refill', amount: 1000, after: 1000, period: '2027-01' },
    ]);
    expect(await database.read(allowanceLeft, student, NEW_YEAR)).toBe(980);
  });

  test('add: the allowance is added each period up to the cap', async () => {
    const student = await newUser();
    await groupWith(monthly(1000, { mode: 'add', cap: 1500 }), [student]);
    await settle(database, held(await hold(student, 100, 100, SHANGHAI_DEC)), usage(100, 100, SHANGHAI_DEC)); // 800 left
    await release(database, held(await hold(student, 1, 1, NEW_YEAR)));
    expect(await buckets(student)).toEqual([{ group: expect.stringMatching(/^Class /), balance: 1500, size: 1500, period: '2027-01' }]);
    expect((await bucketRows(student)).find((r) => r.period === '2027-01')).toEqual({ kind: 'refill', amount: 700, after: 1500, period: '2027-01' });
  });

  test('an answer running when the month turns: what it does not use of December expires with December, never joining January', async () => {
    const student = await newUser();
    await groupWith(monthly(1000), [student]);
    const h = held(await hold(student, 100, 400, LAST_SECOND)); // 500 of December's allowance
    await release(database, held(await hold(student, 1, 1, NEW_YEAR))); // January's refill, by another turn
    await settle(database, h, usage(100, 100, NEW_YEAR)); // used 200; 300 come back after December ended
    expect(await database.read(allowanceLeft, student, NEW_YEAR)).toBe(1000);
    const rows = await bucketRows(student);
    expect(rows.slice(-2)).toEqual([
      { kind: 'settle', amount: 300, after: 1300, period: null },
      { kind: 'expire', amount: -300, after: 1000, period: null },
    ]);
  });

  test('several groups: each is its own bucket, the one that ends soonest spent first, and allowances add up', async () => {
    const student = await newUser();
    await groupWith(monthly(1000), [student]);
    await groupWith({ amount: 100, period: 'day', mode: 'reset', cap: null, join: 'full' }, [student]);
    const h = held(await hold(student, 100, 50, SHANGHAI_DEC)); // 150: the day's 100 first, then 50 of the month's
    const parts = JSON.parse((await sql.value('SELECT parts FROM holds WHERE id = ?', h.id)) as string) as { n: number }[];
    expect(parts.map((p) => p.n)).toEqual([100, 50]);
    await settle(database, h, usage(100, 50, SHANGHAI_DEC));
    expect(await database.read(allowanceLeft, student, SHANGHAI_DEC)).toBe(950);
  });
});

describe('members come and go', () => {
  test('added mid-period pro rata gets the part of the month still to come; removed, loses what is left; added again, no second allowance', async () => {
    const student = await newUser();
    const mid = new Date('2026-12-16T16:00:00Z'); // 17 Dec 00:00 in Shanghai: 15 of December's 31 days to come
    const id = await database.write(createGroup, null, 'Class P');
    await database.write(setAllowance, null, id, monthly(3100, { join: 'prorata' }), 'now', mid);
    await database.write(addMembers, null, id, [student], mid);
    // 15 whole days of 31 are to come: 3100 * 15 / 31.
    expect((await bucketRows(student)).find((r) => r.kind === 'refill')).toMatchObject({ amount: 1500, period: '2026-12' });
    await database.write(removeMembers, null, id, [student], mid);
    expect(await buckets(student)).toEqual([{ group: 'Class P', balance: 0, size: expect.any(Number), period: expect.any(String) }]);
    await database.write(addMembers, null, id, [student], mid);
    expect(await hold(student, 0, 1, mid)).toMatchObject({ status: 'insufficient', balance: 0 });
    expect((await bucketRows(student)).filter((r) => r.kind === 'refill')).toHaveLength(1);
  });

  test('a deleted group takes its allowance with it; people left in no group follow Everyone', async () => {
    const student = await newUser();
    const everyone = (await database.read(listGroups)).find((g) => g.builtin)!.id;
    await database.write(setAllowance, null, everyone, monthly(50), 'now', SHANGHAI_DEC);
    const id = await groupWith(monthly(1000), [student]);
    await release(database, held(await hold(student, 1, 1, SHANGHAI_DEC)));
    expect(await database.read(allowanceLeft, student, SHANGHAI_DEC)).toBe(1000);
    await database.write(deleteGroup, null, id, SHANGHAI_DEC);
    await release(database, held(await hold(student, 1, 1, SHANGHAI_DEC)));
    expect(await database.read(allowanceLeft, student, SHANGHAI_DEC)).toBe(50);
    expect((await buckets(student)).map((b) => [b.group, b.balance])).toEqual([[expect.stringMatching(/^Class /), 0], ['Everyone', 50]]);
  });
});

describe('an administrator changes the allowance', () => {
  test('"now" applies the difference once; "next" waits for the next period; removing it empties the buckets', async () => {
    const student = await newUser();
    const id = await groupWith(monthly(1000), [student]);
    await database.write(setAllowance, null, id, monthly(1500), 'now', SHANGHAI_DEC);
    expect(await database.read(allowanceLeft, student, SHANGHAI_DEC)).toBe(1500);
    await database.write(setAllowance, null, id, monthly(200), 'next', SHANGHAI_DEC);
    expect(await database.read(allowanceLeft, student, SHANGHAI_DEC)).toBe(1500);
    await release(database, held(await hold(student, 1, 1, NEW_YEAR)));
    expect(await database.read(allowanceLeft, student, NEW_YEAR)).toBe(200);
    await database.write(setAllowance, null, id, null, 'now', NEW_YEAR);
    expect(await database.read(allowanceLeft, student, NEW_YEAR)).toBe(0);
    expect(await sql.value(`SELECT count(*) FROM admin_audit WHERE action = 'group_allowance'`)).toBe(4);
  });

  test('bad allowances are refused and change nothing', async () => {
    const id = await groupWith(null, []);
    for (const bad of [monthly(0), monthly(1.5), monthly(1000, { mode: 'add', cap: 10 }), { ...monthly(1), period: 'year' as never }]) {
      await expect(database.write(setAllowance, null, id, bad, 'now')).rejects.toBeInstanceOf(AllowanceError);
    }
    await expect(database.write(setTimeZone, null, 'Mars/Olympus')).rejects.toBeInstanceOf(AllowanceError);
    expect(await sql.value('SELECT allowance FROM groups WHERE id = ?', id)).toBeNull();
  });
});

describe('money rules', () => {
  test('a refund takes back own tokens only, never the allowance; what it cannot take stays owed', async () => {
    const student = await newUser(100);
    await groupWith(monthly(1000), [student]);
    await release(database, held(await hold(student, 1, 1, SHANGHAI_DEC)));
    const order = Number(await sql.value(`INSERT INTO orders (user_id, package_id, package_name, tokens, amount, currency, state, tokens_back)
      VALUES (?, 'p', 'P', 300, 100, 'usd', 'refunded', 300) RETURNING id`, student));
    const back = await database.write(takeBack, student, order, 300);
    expect(back).toEqual({ taken: 100, owed: 200, balance: 0 });
    expect(await database.read(allowanceLeft, student, SHANGHAI_DEC)).toBe(1000);
  });

  test('50 reserves at once on two connections pools, across the month turning: one refill per period, no bucket below zero, verify clean', async () => {
    const student = await newUser(2000);
    await groupWith(monthly(1000), [student]);
    await groupWith({ amount: 300, period: 'week', mode: 'add', cap: 400, join: 'full' }, [student]);
    // A second store on the same database: another process, as far as the database can tell.
    const other = openStore({ dataDir: temp.dir, databaseUrl: ON_POSTGRES ? process.env.TEST_DATABASE_URL : undefined, databasePoolSize: 4, sessionIdleMs: 60_000 }, temp.schema);
    await migrateStore(other);
    try {
      const times = Array.from({ length: 50 }, (_, i) => new Date(LAST_SECOND.getTime() - 1000 + i * 60));
      const results = await Promise.all(times.map(async (at, i) => {
        const db = i % 2 ? other : database;
        const r = await hold(student, 40, 40, at, db);
        if (r.status === 'held') await settle(db, r.hold, usage(40, i % 3 === 0 ? 0 : 40, new Date(at.getTime() + 500)));
        return r.status;
      }));
      expect(results.every((s) => s === 'held' || s === 'insufficient')).toBe(true);
      const refills = (await sql.all(`SELECT allowance_id AS a, period FROM allowance_ledger WHERE kind = 'refill'`)) as { a: number; period: string }[];
      const keys = refills.map((r) => `${r.a}:${r.period}`);
      expect(new Set(keys).size).toBe(keys.length);
      expect(refills.map((r) => r.period).sort()).toEqual(['2026-12', '2026-W51', '2026-W53', '2027-01']);
      expect(Number(await sql.value('SELECT min(balance) FROM allowances'))).toBeGreaterThanOrEqual(0);
      expect(await database.read(balanceOf, student)).toBeGreaterThanOrEqual(0);
    } finally {
      await other.close();
    }
  });

  test('a crash mid-answer: the recovery sweep settles a hold from two buckets by the stop rule, each part back where it came from', async () => {
    const student = await newUser(1000);
    await groupWith(monthly(100), [student]);
    const h = held(await hold(student, 100, 200, SHANGHAI_DEC)); // 300: 100 allowance + 200 own
    await recordDelivered(database, h.id, 20); // 20 completion tokens reached the user before the process died
    expect(await recoverHolds(database, 0)).toEqual({ settled: 1, released: 0 });
    // Charged the prompt and what was delivered (120): the allowance's 100 first, then 20 own.
    expect(await database.read(allowanceLeft, student, SHANGHAI_DEC)).toBe(0);
    expect(await database.read(balanceOf, student)).toBe(980);
  });

  test('ledger verify names a bucket whose balance is not the sum of its rows', async () => {
    const student = await newUser();
    await groupWith(monthly(1000), [student]);
    await sql.run('UPDATE allowances SET balance = balance + 5 WHERE user_id = ?', student);
    const problems = await database.read(verifyLedger, 3_600_000);
    expect(problems).toEqual([expect.objectContaining({ userId: student, problem: expect.stringContaining('allowance bucket') })]);
    await sql.run('UPDATE allowances SET balance = balance - 5 WHERE user_id = ?', student);
  });
});

describe('the sweep', () => {
  test('refills the buckets of people who sent nothing since the period turned, once, and leaves former members alone', async () => {
    const [a, b, gone] = [await newUser(), await newUser(), await newUser()];
    const id = await groupWith(monthly(100), [a, b, gone]);
    await database.write(removeMembers, null, id, [gone], SHANGHAI_DEC);
    expect(await refillDue(database, NEW_YEAR)).toBe(2);
    expect(await refillDue(database, NEW_YEAR)).toBe(0);
    for (const u of [a, b]) expect(await database.read(allowanceLeft, u, NEW_YEAR)).toBe(100);
    expect(await database.read(allowanceLeft, gone, NEW_YEAR)).toBe(0);
    expect(await sql.value(`SELECT count(*) FROM allowance_ledger WHERE kind = 'refill' AND period = '2027-01'`)).toBe(2);
  });
});
