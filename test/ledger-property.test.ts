// Seeded random interleavings of every ledger operation; the invariants are checked after each step.
import { CodeError, createCodes, redeem } from '../src/ledger/codes';
import type { AppStore } from '../src/db';
import { balanceOf, grant, LedgerError, openAccount, recordDelivered, recoverHolds, release, reserve, settle, type Hold } from '../src/ledger/ledger';
import { verifyLedger } from '../src/ledger/verify';
import { loadModels, type ModelInfo } from '../src/metering/models';
import { mulberry32, openTempDatabase, type Sql } from './helpers';

const demo = loadModels().find('demo')!;
const MODELS: ModelInfo[] = [demo, { ...demo, id: 'odd', promptRate: 1_333_333, completionRate: 2_750_001 }];

let temp: Awaited<ReturnType<typeof openTempDatabase>>;
let database: AppStore;
let sql: Sql;
beforeEach(async () => {
  temp = await openTempDatabase();
  ({ database, sql } = temp);
});
afterEach(() => temp.close());

test.each([1, 2, 3, 42, 2026])('seed %i: 400 random steps keep every invariant', async (seed) => {
  const rand = mulberry32(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const int = (max: number) => Math.floor(rand() * (max + 1));
  const users: number[] = [];
  for (const i of [1, 2, 3]) {
    users.push(Number(await sql.value(`INSERT INTO users (username, username_key, password_hash) VALUES (?, ?, '$argon2id$x') RETURNING id`, `prop${i}`, `prop${i}`)));
  }
  for (const u of users) await database.write(openAccount, u, int(300));
  let open: Hold[] = [];
  const codes = await createCodes(database, { tokens: 50, count: 5 });
  let charged = 0;
  let credited = (await Promise.all(users.map((u) => database.read(balanceOf, u)))).reduce((s, b) => s + b, 0);
  const steps: Record<string, number> = {};

  for (let step = 0; step < 400; step++) {
    const op = pick(['reserve', 'reserve', 'settle', 'release', 'deliver', 'crash', 'grant', 'redeem']);
    steps[op] = (steps[op] ?? 0) + 1;
    const user = pick(users);
    if (op === 'reserve') {
      const r = await reserve(database, { userId: user, turnKey: `k${int(30)}`, model: pick(MODELS), promptTokens: int(60), maxCompletion: 1 + int(80) });
      if (r.status === 'held') open.push(r.hold);
      if (r.status === 'insufficient') expect(r.missing).toBeGreaterThan(0);
    } else if ((op === 'settle' || op === 'release' || op === 'deliver') && open.length) {
      const hold = pick(open);
      if (op === 'deliver') {
        await recordDelivered(database, hold.id, int(hold.maxCompletion));
        continue;
      }
      open = open.filter((h) => h !== hold);
      const result =
        op === 'settle'
          ? await settle(database, hold.id, { promptTokens: hold.promptTokens + int(3), completionTokens: int(hold.maxCompletion + 2), source: 'reported', outcome: 'ok' })
          : await release(database, hold.id);
      if (op === 'release') expect(result.charge).toBe(0);
      expect(result.balance).toBeGreaterThanOrEqual(0);
      charged += result.charge;
    } else if (op === 'crash') {
      const before = (await sql.value(`SELECT coalesce(sum(charge), 0) FROM usage`)) as number;
      await recoverHolds(database, 0);
      open = [];
      charged += ((await sql.value(`SELECT coalesce(sum(charge), 0) FROM usage`)) as number) - before;
    } else if (op === 'grant') {
      const amount = pick([int(100), -int(100), 0, 1.5]);
      try {
        await grant(database, user, amount);
        credited += amount;
      } catch (err) {
        expect(err).toBeInstanceOf(LedgerError);
      }
    } else if (op === 'redeem') {
      try {
        credited += (await redeem(database, user, pick(codes))).tokens;
      } catch (err) {
        expect(err).toBeInstanceOf(CodeError);
      }
    }
    // The invariants, after every step.
    expect(await database.read(verifyLedger, 3_600_000)).toEqual([]);
    const held = open.reduce((s, h) => s + h.amount, 0);
    const balances = (await Promise.all(users.map((u) => database.read(balanceOf, u)))).reduce((s, b) => s + b, 0);
    expect(balances + held + charged).toBe(credited);
  }
  expect(Object.keys(steps).length).toBe(7); // every kind of operation was exercised
});
