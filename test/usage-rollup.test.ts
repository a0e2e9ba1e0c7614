// The usage rollup: reports read summed days plus the turns closed after the mark, and must say
// exactly what adding up every turn says, before, during and after rolling up, from one process
// or two.
import { adminUser } from '../src/admin/queries';
import { migrateStore, openStore, type AppStore } from '../src/db';
import { verifyLedger } from '../src/ledger/verify';
import { dailyUsage, summary, topUsers } from '../src/reports/usage-report';
import { ROLLUP_LAG_MS, rolledUntil, rollUp, rollUpStep } from '../src/reports/usage-rollup';
import { testDatabaseUrl } from './db-under-test';
import { mulberry32, ON_POSTGRES, openTempDatabase, type Sql } from './helpers';

const DAY = 86_400_000;
let temp: Awaited<ReturnType<typeof openTempDatabase>>;
let database: AppStore;
let sql: Sql;
let users: number[];
let seq = 0;

beforeEach(async () => {
  temp = await openTempDatabase();
  ({ database, sql } = temp);
  users = [];
  for (const i of [1, 2, 3, 4]) {
    users.push((await sql.value<number>(`INSERT INTO users (username, username_key, password_hash) VALUES (?, ?, '$argon2id$x') RETURNING id`, `roller${i}`, `roller${i}`))!);
  }
});
afterEach(() => temp.close());

const HOLD_COLUMNS = `INSERT INTO holds (user_id, turn_key, model, amount, prompt_tokens, max_completion, prompt_rate, completion_rate, state, charge,
  created_at, closed_at, used_prompt_tokens, completion_tokens, source, outcome) VALUES `;

/** `count` turns at random times from `maxAgeMs` ago until now: settled, released (charge 0) or still open. */
async function addTurns(rand: () => number, count: number, maxAgeMs: number): Promise<void> {
  const rows: unknown[][] = [];
  for (let i = 0; i < count; i++) {
    const at = new Date(Date.now() - Math.floor(rand() * maxAgeMs)).toISOString();
    const state = rand() < 0.8 ? 'settled' : rand() < 0.5 ? 'released' : 'held';
    const closed = state !== 'held';
    const prompt = 1 + Math.floor(rand() * 500);
    const completion = state === 'settled' ? Math.floor(rand() * 800) : 0;
    rows.push([
      users[Math.floor(rand() * users.length)], `k${++seq}`, ['demo', 'gpt-4o', 'gpt-4o-mini'][Math.floor(rand() * 3)],
      state, closed ? (state === 'settled' ? prompt + 4 * completion : 0) : null, at, closed ? at : null,
      closed ? prompt : null, closed ? completion : null, closed ? 'reported' : null, closed ? 'ok' : null,
    ]);
  }
  // Many rows a statement, in id order as the turns were drawn.
  for (let i = 0; i < rows.length; i += 200) {
    const batch = rows.slice(i, i + 200);
    const values = batch.map(() => '(?, ?, ?, 1000, 10, 10, 1, 1, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
    await sql.run(HOLD_COLUMNS + values, ...batch.flat());
  }
}

/** What the reports must say: every closed turn added up, as the reports did before the rollup. */
async function oracle(userId?: number) {
  const where = userId === undefined ? '1 = 1' : `user_id = ${userId}`;
  const sums = 'count(*) AS turns, coalesce(sum(charge), 0) AS charge, coalesce(sum(prompt_tokens), 0) AS prompt, coalesce(sum(completion_tokens), 0) AS completion';
  const chargeSince = (since: string) => sql.value(`SELECT coalesce(sum(charge), 0) FROM usage WHERE ${where} AND created_at >= ?`, since);
  const today = `${new Date().toISOString().slice(0, 10)}T00:00:00.000Z`;
  return {
    today: await chargeSince(today),
    month: await chargeSince(`${today.slice(0, 7)}-01T00:00:00.000Z`),
    total: await sql.get(`SELECT ${sums} FROM usage WHERE ${where}`),
    byModel: await sql.all(`SELECT model, ${sums} FROM usage WHERE ${where} GROUP BY model ORDER BY charge DESC, model`),
    daily: await sql.all(`SELECT substr(created_at, 1, 10) AS day, ${sums} FROM usage WHERE ${where} GROUP BY substr(created_at, 1, 10)`),
  };
}

function topOracle(since: string) {
  return sql.all(
    `SELECT u.id AS "userId", u.username, count(*) AS turns, coalesce(sum(charge), 0) AS charge, coalesce(sum(prompt_tokens), 0) AS prompt,
       coalesce(sum(completion_tokens), 0) AS completion
     FROM usage JOIN users u ON u.id = usage.user_id WHERE usage.created_at >= ? GROUP BY u.id ORDER BY charge DESC, u.id LIMIT 10`,
    since,
  );
}

async function expectReportsToAddUp(): Promise<void> {
  const monthStart = `${new Date().toISOString().slice(0, 7)}-01T00:00:00.000Z`;
  for (const userId of [undefined, ...users]) {
    const want = await oracle(userId);
    const got = await database.read(summary, userId);
    expect({ today: got.today, month: got.month, total: got.total, byModel: got.byModel }).toEqual({
      today: want.today, month: want.month, total: want.total, byModel: want.byModel,
    });
    const wantDays = new Map((want.daily as Array<{ day: string }>).map((d) => [d.day, d]));
    for (const day of await database.read(dailyUsage, userId)) {
      expect(day).toEqual(wantDays.get(day.day) ?? { day: day.day, turns: 0, charge: 0, prompt: 0, completion: 0 });
    }
    if (userId !== undefined) {
      expect(await database.read(adminUser, userId)).toMatchObject({ spent: (want.total as { charge: number }).charge, turns: (want.total as { turns: number }).turns });
    }
  }
  expect(await database.read(topUsers, 10)).toEqual(await topOracle(''));
  expect(await database.read(topUsers, 10, monthStart)).toEqual(await topOracle(monthStart));
  expect((await database.read(verifyLedger, 1000 * DAY)).filter((v) => v.problem.startsWith('usage rollup'))).toEqual([]);
}

test.each([7, 2026])('seed %i: reports equal the turns added up before, during and after rolling up', async (seed) => {
  const rand = mulberry32(seed);
  await addTurns(rand, 1500, 70 * DAY);
  await expectReportsToAddUp(); // nothing rolled up: all from the turns
  for (let i = 0; i < 25; i++) expect(await database.write(rollUpStep)).toBe(true); // part of the way
  expect((await database.read(rolledUntil)) < new Date(Date.now() - 30 * DAY).toISOString()).toBe(true);
  await expectReportsToAddUp();
  await addTurns(rand, 200, Date.now() - Date.parse(await database.read(rolledUntil))); // new turns close after the mark
  await expectReportsToAddUp();
  const now = new Date();
  expect(await rollUp(database, now)).toBeGreaterThan(0);
  expect(await database.write(rollUpStep, now)).toBe(false); // caught up
  const mark = Date.parse(await database.read(rolledUntil));
  expect(Date.now() - mark).toBeGreaterThanOrEqual(ROLLUP_LAG_MS);
  expect(Date.now() - mark).toBeLessThan(ROLLUP_LAG_MS + 60_000);
  await expectReportsToAddUp();
  await addTurns(rand, 50, 30_000); // the last half minute: after the mark
  await expectReportsToAddUp();
});

test('ledger verify names a rollup row that does not add up', async () => {
  await addTurns(mulberry32(1), 300, 10 * DAY);
  await rollUp(database);
  const rollupProblems = async () => (await database.read(verifyLedger, 1000 * DAY)).filter((v) => v.problem.startsWith('usage rollup'));
  expect(await rollupProblems()).toEqual([]);
  const [row] = await sql.all<{ userId: number; day: string; model: string }>('SELECT user_id AS "userId", day, model FROM usage_daily ORDER BY user_id, day, model LIMIT 1');
  await sql.run('UPDATE usage_daily SET charge = charge + 1 WHERE user_id = ? AND day = ? AND model = ?', row!.userId, row!.day, row!.model);
  expect(await rollupProblems()).toEqual([
    { userId: row!.userId, problem: `usage rollup for the user on ${row!.day} (${row!.model}) does not match the turns` },
  ]);
});

/** A second connection to the same database, as another server process has: on PostgreSQL a second pool on the temp database's schema. */
async function anotherProcess() {
  const other = openStore({ dataDir: temp.dir, databaseUrl: ON_POSTGRES ? testDatabaseUrl() : undefined, databasePoolSize: 4, sessionIdleMs: 60_000 }, temp.schema);
  await migrateStore(other);
  return other;
}

test('two processes taking turns rolling up one database count every turn once', async () => {
  await addTurns(mulberry32(99), 2000, 40 * DAY);
  const other = await anotherProcess();
  try {
    // One `now` for every step, as rollUp uses: with a fresh clock per step, a step slower than a
    // millisecond (a PostgreSQL round trip) finds the target moved on and never reports caught up.
    const now = new Date();
    for (let moved = true; moved; ) {
      const a = await database.write(rollUpStep, now);
      const b = await other.write(rollUpStep, now);
      moved = a || b;
    }
    await expectReportsToAddUp();
    expect(await other.read(rolledUntil)).toBe(await database.read(rolledUntil));
  } finally {
    await other.close();
  }
});

test('two processes rolling up at the same moment count every turn once (each step takes the mark first)', async () => {
  await addTurns(mulberry32(7), 1500, 30 * DAY);
  const other = await anotherProcess();
  try {
    const now = new Date();
    const steps = await Promise.all([rollUp(database, now), rollUp(other, now), rollUp(database, now)]);
    expect(steps.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    await expectReportsToAddUp();
  } finally {
    await other.close();
  }
});

test('turns closed exactly at the mark or at midnight are counted once, before and after the mark passes them', async () => {
  await addTurns(mulberry32(5), 300, 20 * DAY);
  for (let i = 0; i < 5; i++) expect(await database.write(rollUpStep)).toBe(true);
  const mark = await database.read(rolledUntil);
  expect(mark).toMatch(/T00:00:00\.000Z$/); // steps end at UTC midnight
  const later = (ms: number) => new Date(Date.parse(mark) + ms).toISOString();
  const insert = (userId: number, key: string, at: string) =>
    sql.run(`${HOLD_COLUMNS}(?, ?, 'demo', 1000, 10, 10, 1, 1, 'settled', 77, ?, ?, 7, 70, 'reported', 'ok')`, userId, key, at, at);
  // At the mark itself, just before and at the next midnight, and at the one after.
  for (const at of [later(0), later(DAY - 1), later(DAY), later(2 * DAY)]) await insert(users[0]!, `edge-${at}`, at);
  await expectReportsToAddUp();
  expect(await database.write(rollUpStep)).toBe(true); // the mark moves one day: past two of them, onto the third
  expect(await database.read(rolledUntil)).toBe(later(DAY));
  await expectReportsToAddUp();
  expect(await database.write(rollUpStep)).toBe(true);
  await expectReportsToAddUp();
});
