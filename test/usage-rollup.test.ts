// The usage rollup: reports read summed days plus the turns closed after the mark, and must say
// exactly what adding up every turn says, before, during and after rolling up, from one process
// or two.
import { adminUser } from '../src/admin-queries';
import { migrate, openDatabase, type Database } from '../src/db';
import { verifyLedger } from '../src/ledger-verify';
import { dailyUsage, periodTotals, summary, topUsers } from '../src/usage-report';
import { ROLLUP_LAG_MS, rolledUntil, rollUp, rollUpStep } from '../src/usage-rollup';
import { mulberry32, openTempDatabase } from './helpers';

const DAY = 86_400_000;
let temp: ReturnType<typeof openTempDatabase>;
let database: Database;
let users: number[];
let seq = 0;

beforeEach(() => {
  temp = openTempDatabase();
  ({ database } = temp);
  const add = database.raw.prepare(`INSERT INTO users (username, username_key, password_hash) VALUES (?, ?, '$argon2id$x') RETURNING id`).pluck();
  users = [1, 2, 3, 4].map((i) => add.get(`roller${i}`, `roller${i}`) as number);
});
afterEach(() => temp.close());

/** `count` turns at random times from `maxAgeMs` ago until now: settled, released (charge 0) or still open. */
function addTurns(rand: () => number, count: number, maxAgeMs: number): void {
  const insert = database.raw.prepare(
    `INSERT INTO holds (user_id, turn_key, model, amount, prompt_tokens, max_completion, prompt_rate, completion_rate, state, charge,
       created_at, closed_at, used_prompt_tokens, completion_tokens, source, outcome)
     VALUES (@user, @key, @model, 1000, 10, 10, 1, 1, @state, @charge, @at, @closed, @prompt, @completion, @source, @outcome)`,
  );
  database.raw.transaction(() => {
    for (let i = 0; i < count; i++) {
      const at = new Date(Date.now() - Math.floor(rand() * maxAgeMs)).toISOString();
      const state = rand() < 0.8 ? 'settled' : rand() < 0.5 ? 'released' : 'held';
      const closed = state !== 'held';
      const prompt = 1 + Math.floor(rand() * 500);
      const completion = state === 'settled' ? Math.floor(rand() * 800) : 0;
      insert.run({
        user: users[Math.floor(rand() * users.length)], key: `k${++seq}`, model: ['demo', 'gpt-4o', 'gpt-4o-mini'][Math.floor(rand() * 3)],
        state, charge: closed ? (state === 'settled' ? prompt + 4 * completion : 0) : null, at, closed: closed ? at : null,
        prompt: closed ? prompt : null, completion: closed ? completion : null, source: closed ? 'reported' : null, outcome: closed ? 'ok' : null,
      });
    }
  })();
}

/** What the reports must say: every closed turn added up, as the reports did before the rollup. */
function oracle(userId?: number) {
  const raw = database.raw;
  const where = userId === undefined ? '1 = 1' : `user_id = ${userId}`;
  const sums = 'count(*) AS turns, coalesce(sum(charge), 0) AS charge, coalesce(sum(prompt_tokens), 0) AS prompt, coalesce(sum(completion_tokens), 0) AS completion';
  const chargeSince = (since: string) => raw.prepare(`SELECT coalesce(sum(charge), 0) FROM usage WHERE ${where} AND created_at >= ?`).pluck().get(since);
  const today = `${new Date().toISOString().slice(0, 10)}T00:00:00.000Z`;
  return {
    today: chargeSince(today),
    month: chargeSince(`${today.slice(0, 7)}-01T00:00:00.000Z`),
    total: raw.prepare(`SELECT ${sums} FROM usage WHERE ${where}`).get(),
    byModel: raw.prepare(`SELECT model, ${sums} FROM usage WHERE ${where} GROUP BY model ORDER BY charge DESC, model`).all(),
    daily: raw.prepare(`SELECT substr(created_at, 1, 10) AS day, ${sums} FROM usage WHERE ${where} GROUP BY day`).all(),
  };
}

function topOracle(since: string) {
  return database.raw
    .prepare(
      `SELECT u.id AS userId, u.username, count(*) AS turns, coalesce(sum(charge), 0) AS charge, coalesce(sum(prompt_tokens), 0) AS prompt,
         coalesce(sum(completion_tokens), 0) AS completion
       FROM usage JOIN users u ON u.id = usage.user_id WHERE usage.created_at >= ? GROUP BY u.id ORDER BY charge DESC, u.id LIMIT 10`,
    )
    .all(since);
}

async function expectReportsToAddUp(): Promise<void> {
  const monthStart = `${new Date().toISOString().slice(0, 7)}-01T00:00:00.000Z`;
  for (const userId of [undefined, ...users]) {
    const want = oracle(userId);
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
  expect(await database.read(topUsers, 10)).toEqual(topOracle(''));
  expect(await database.read(topUsers, 10, monthStart)).toEqual(topOracle(monthStart));
  expect((await database.read(verifyLedger, 1000 * DAY)).filter((v) => v.problem.startsWith('usage rollup'))).toEqual([]);
}

test.each([7, 2026])('seed %i: reports equal the turns added up before, during and after rolling up', async (seed) => {
  const rand = mulberry32(seed);
  addTurns(rand, 1500, 70 * DAY);
  await expectReportsToAddUp(); // nothing rolled up: all from the turns
  for (let i = 0; i < 25; i++) expect(await database.write(rollUpStep)).toBe(true); // part of the way
  expect((await database.read(rolledUntil)) < new Date(Date.now() - 30 * DAY).toISOString()).toBe(true);
  await expectReportsToAddUp();
  addTurns(rand, 200, Date.now() - Date.parse(await database.read(rolledUntil))); // new turns close after the mark
  await expectReportsToAddUp();
  const now = new Date();
  expect(await rollUp(database, now)).toBeGreaterThan(0);
  expect(await database.write(rollUpStep, now)).toBe(false); // caught up
  const mark = Date.parse(await database.read(rolledUntil));
  expect(Date.now() - mark).toBeGreaterThanOrEqual(ROLLUP_LAG_MS);
  expect(Date.now() - mark).toBeLessThan(ROLLUP_LAG_MS + 60_000);
  await expectReportsToAddUp();
  addTurns(rand, 50, 30_000); // the last half minute: after the mark
  await expectReportsToAddUp();
});

test('ledger verify names a rollup row that does not add up', async () => {
  addTurns(mulberry32(1), 300, 10 * DAY);
  await rollUp(database);
  const rollupProblems = async () => (await database.read(verifyLedger, 1000 * DAY)).filter((v) => v.problem.startsWith('usage rollup'));
  expect(await rollupProblems()).toEqual([]);
  const [row] = database.raw.prepare('SELECT user_id AS userId, day, model FROM usage_daily LIMIT 1').all() as Array<{ userId: number; day: string; model: string }>;
  database.raw.prepare('UPDATE usage_daily SET charge = charge + 1 WHERE user_id = ? AND day = ? AND model = ?').run(row!.userId, row!.day, row!.model);
  expect(await rollupProblems()).toEqual([
    { userId: row!.userId, problem: `usage rollup for the user on ${row!.day} (${row!.model}) does not match the turns` },
  ]);
});

test('two processes taking turns rolling up one database count every turn once', async () => {
  addTurns(mulberry32(99), 2000, 40 * DAY);
  const other = openDatabase(temp.dir);
  try {
    migrate(other);
    for (let moved = true; moved; ) {
      const a = await database.write(rollUpStep);
      const b = await other.write(rollUpStep);
      moved = a || b;
    }
    await expectReportsToAddUp();
    expect(await other.read(rolledUntil)).toBe(await database.read(rolledUntil));
  } finally {
    await other.close();
  }
});

test('turns closed exactly at the mark or at midnight are counted once, before and after the mark passes them', async () => {
  addTurns(mulberry32(5), 300, 20 * DAY);
  for (let i = 0; i < 5; i++) expect(await database.write(rollUpStep)).toBe(true);
  const mark = await database.read(rolledUntil);
  expect(mark).toMatch(/T00:00:00\.000Z$/); // steps end at UTC midnight
  const later = (ms: number) => new Date(Date.parse(mark) + ms).toISOString();
  const insert = database.raw.prepare(
    `INSERT INTO holds (user_id, turn_key, model, amount, prompt_tokens, max_completion, prompt_rate, completion_rate, state, charge,
       created_at, closed_at, used_prompt_tokens, completion_tokens, source, outcome)
     VALUES (?, ?, 'demo', 1000, 10, 10, 1, 1, 'settled', 77, ?, ?, 7, 70, 'reported', 'ok')`,
  );
  // At the mark itself, just before and at the next midnight, and at the one after.
  for (const at of [later(0), later(DAY - 1), later(DAY), later(2 * DAY)]) insert.run(users[0], `edge-${at}`, at, at);
  await expectReportsToAddUp();
  expect(await database.write(rollUpStep)).toBe(true); // the mark moves one day: past two of them, onto the third
  expect(await database.read(rolledUntil)).toBe(later(DAY));
  await expectReportsToAddUp();
  expect(await database.write(rollUpStep)).toBe(true);
  await expectReportsToAddUp();
});
