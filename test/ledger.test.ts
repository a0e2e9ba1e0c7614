import fs from 'node:fs';
import { migrate, openDatabase, readMigrations, type AppStore } from '../src/db';
import { createCodes, CodeError, redeem } from '../src/ledger/codes';
import { balanceOf, grant, heartbeat, LedgerError, MAX_BALANCE, openAccount, recordDelivered, recoverHolds, release, reserve, settle, type ReserveResult } from '../src/ledger/ledger';
import { verifyLedger } from '../src/ledger/verify';
import { chatModels, formatRate, loadModels, ModelsFileError, priceOf, servedModels, type ModelInfo } from '../src/metering/models';
import { PasswordHasher } from '../src/accounts/passwords';
import { setSpendLimits } from '../src/ledger/spend-limits';
import { NotAnAdmin, recordUserCreated } from '../src/admin/actions';
import { createUser } from '../src/accounts/users';
import { ON_POSTGRES, openTempDatabase, tempDir, type Sql } from './helpers';

const models = loadModels();
const flat = models.find('demo')!; // 1 and 1
const pricey: ModelInfo = { ...flat, id: 'pricey', promptRate: 2_500_000, completionRate: 10_000_000 }; // 2.5 and 10

let database: AppStore;
let sql: Sql;
let userId: number;
let n = 0;

async function newUser(): Promise<number> {
  n++;
  return Number(await sql.value(`INSERT INTO users (username, username_key, password_hash) VALUES (?, ?, '$argon2id$x') RETURNING id`, `user${n}`, `user${n}`));
}
const ledgerRows = (id: number) => sql.all('SELECT kind, amount, balance_after AS after FROM ledger WHERE user_id = ? ORDER BY id', id);

type Row = { kind: string; amount: number; after: number };
/** The rows of the two batch tests: the bonus, then a grant of 50, a reserve of 20 and a grant of 7, the refused write leaving none. */
const BONUS_GRANT_RESERVE_GRANT: Row[] = [
  { kind: 'signup_bonus', amount: 2000, after: 2000 },
  { kind: 'grant', amount: 50, after: 2050 },
  { kind: 'reserve', amount: -20, after: 2030 },
  { kind: 'grant', amount: 7, after: 2037 },
];
/**
 * SQLite's group commit writes concurrent writes in arrival order, so the rows are exactly these;
 * PostgreSQL commits them in any order: then they are these as a set, each row's balance after
 * following from the row before it.
 */
async function expectLedger(id: number, expected: Row[]): Promise<void> {
  const rows = (await ledgerRows(id)) as Row[];
  if (!ON_POSTGRES) return void expect(rows).toEqual(expected);
  const key = (r: Row) => `${r.kind}:${r.amount}`;
  expect(rows.map(key).sort()).toEqual(expected.map(key).sort());
  rows.forEach((r, i) => i > 0 && expect(r.after).toBe(rows[i - 1]!.after + r.amount));
}

let temp: Awaited<ReturnType<typeof openTempDatabase>>;
beforeEach(async () => {
  temp = await openTempDatabase();
  ({ database, sql } = temp);
  userId = await newUser();
  await database.write(openAccount, userId, 2000);
});
afterEach(async () => {
  expect(await database.read(verifyLedger, 60_000)).toEqual([]);
  await temp.close();
});

describe('pricing', () => {
  test('the demo server offers only the demo model; a server with a model API everything but it', () => {
    expect(servedModels(models, true).models.map((m) => m.id)).toEqual(['demo']);
    const real = servedModels(models, false);
    expect(real.models.map((m) => m.id)).toEqual(['gpt-4o-mini', 'gpt-4.1-mini', 'gpt-4o', 'gpt-3.5-turbo', 'text-embedding-3-small', 'text-embedding-3-large']);
    // The chat page offers the chat models of those.
    expect(chatModels(real).models.map((m) => m.id)).toEqual(['gpt-4o-mini', 'gpt-4.1-mini', 'gpt-4o', 'gpt-3.5-turbo']);
    expect(real.find('demo')).toBeUndefined();
    const demoOnly = { ...models, models: [flat], find: (id: string) => (id === 'demo' ? flat : undefined) };
    expect(() => servedModels(demoOnly, false)).toThrow(ModelsFileError);
    expect(() => servedModels(real, true)).toThrow('no "demo" model');
    expect([2_666_667, 10_666_667, 1_000_000, 0].map(formatRate)).toEqual(['2.666667', '10.666667', '1', '0']);
  });

  test('charge is the ceiling of the weighted sum, in integers', () => {
    expect(priceOf(flat, 10, 5)).toBe(15);
    expect(priceOf(pricey, 1, 0)).toBe(3); // 2.5 -> 3
    expect(priceOf(pricey, 2, 1)).toBe(15); // 5 + 10
    expect(priceOf({ promptRate: 333_333, completionRate: 0 }, 3, 0)).toBe(1); // 0.999999 -> 1
    expect(priceOf({ promptRate: 100_000, completionRate: 100_000 }, 7, 3)).toBe(1); // 0.1 * 10 exactly, no drift
    expect(priceOf({ promptRate: 100_000, completionRate: 100_000 }, 7, 4)).toBe(2);
  });
});

describe('reserve, settle, release', () => {
  test('a turn holds prompt + max completion, then settles to real usage and refunds the rest', async () => {
    const r = await reserve(database, { userId, turnKey: 't1', model: flat, promptTokens: 100, maxCompletion: 500 });
    expect(r).toMatchObject({ status: 'held', balance: 1400, hold: { amount: 600, maxCompletion: 500 } });
    if (r.status !== 'held') throw new Error();
    const s = await settle(database, r.hold.id, { promptTokens: 100, completionTokens: 42, source: 'reported', outcome: 'ok' });
    expect(s).toEqual({ charge: 142, uncollected: 0, balance: 1858 });
    expect(await ledgerRows(userId)).toEqual([
      { kind: 'signup_bonus', amount: 2000, after: 2000 },
      { kind: 'reserve', amount: -600, after: 1400 },
      { kind: 'settle', amount: 458, after: 1858 },
    ]);
    const usage = await sql.get('SELECT prompt_tokens, completion_tokens, charge, source, outcome FROM usage');
    expect(usage).toEqual({ prompt_tokens: 100, completion_tokens: 42, charge: 142, source: 'reported', outcome: 'ok' });
  });

  test('max completion shrinks to what the balance pays for after the prompt', async () => {
    await grant(database, userId, -1900); // 100 left
    const r = await reserve(database, { userId, turnKey: 't', model: pricey, promptTokens: 10, maxCompletion: 4096 });
    // prompt costs 25; 75 left pays for 7 completion tokens at 10 each
    expect(r).toMatchObject({ status: 'held', balance: 0, hold: { amount: 100, maxCompletion: 7 } });
  });

  test('not even the prompt and one completion token affordable: insufficient, says how many are missing, writes nothing', async () => {
    await grant(database, userId, -1990); // 10 left
    const before = await ledgerRows(userId);
    const r = await reserve(database, { userId, turnKey: 't', model: pricey, promptTokens: 4, maxCompletion: 100 });
    expect(r).toEqual({ status: 'insufficient', missing: 10, balance: 10 }); // 10 + 10 needed
    expect(await ledgerRows(userId)).toEqual(before);
  });

  test('a repeated turn key returns the first hold and never charges twice', async () => {
    const a = await reserve(database, { userId, turnKey: 'same', model: flat, promptTokens: 10, maxCompletion: 10 });
    const b = await reserve(database, { userId, turnKey: 'same', model: flat, promptTokens: 10, maxCompletion: 10 });
    expect(b.status).toBe('duplicate');
    if (a.status !== 'held' || b.status !== 'duplicate') throw new Error();
    expect(b.hold.id).toBe(a.hold.id);
    expect(await database.read(balanceOf, userId)).toBe(1980);
    await settle(database, a.hold.id, { promptTokens: 10, completionTokens: 10, source: 'estimated', outcome: 'ok' });
    await expect(settle(database, a.hold.id, { promptTokens: 10, completionTokens: 10, source: 'estimated', outcome: 'ok' })).rejects.toThrow('already settled');
    await expect(release(database, a.hold.id)).rejects.toThrow('already settled');
    expect(await database.read(balanceOf, userId)).toBe(1980);
  });

  test('a repeated turn key is a duplicate even once the balance could not pay for it, and writes nothing', async () => {
    const a = await reserve(database, { userId, turnKey: 'again', model: flat, promptTokens: 10, maxCompletion: 10 });
    await grant(database, userId, -1980);
    const rows = (await ledgerRows(userId)).length;
    const b = await reserve(database, { userId, turnKey: 'again', model: flat, promptTokens: 10, maxCompletion: 10 });
    expect(b).toMatchObject({ status: 'duplicate', balance: 0 });
    await grant(database, userId, 500);
    const c = await reserve(database, { userId, turnKey: 'again', model: flat, promptTokens: 10, maxCompletion: 10 });
    expect(c).toMatchObject({ status: 'duplicate', balance: 500 });
    if (a.status !== 'held' || c.status !== 'duplicate') throw new Error();
    expect(c.hold.id).toBe(a.hold.id);
    expect((await ledgerRows(userId)).length).toBe(rows + 1); // only the grant of 500
    await release(database, a.hold.id);
  });

  test('an upstream error before any output: release charges nothing', async () => {
    const r = await reserve(database, { userId, turnKey: 't', model: flat, promptTokens: 50, maxCompletion: 50 });
    if (r.status !== 'held') throw new Error();
    expect(await release(database, r.hold.id)).toEqual({ charge: 0, uncollected: 0, balance: 2000 });
  });

  test('a provider counting more than was held takes what is left and records the rest as uncollected', async () => {
    await grant(database, userId, -1980); // 20 left
    const r = await reserve(database, { userId, turnKey: 't', model: flat, promptTokens: 10, maxCompletion: 10 });
    if (r.status !== 'held') throw new Error();
    const s = await settle(database, r.hold.id, { promptTokens: 14, completionTokens: 10, source: 'reported', outcome: 'ok' });
    expect(s).toEqual({ charge: 20, uncollected: 4, balance: 0 });
  });

  test('a provider reporting far more than was held is charged the hold at most, never the rest of the balance or past a limit', async () => {
    await database.write(setSpendLimits, userId, { perMessage: 100, perDay: null });
    const r = await reserve(database, { userId, turnKey: 'greedy', model: flat, promptTokens: 10, maxCompletion: 4096, limits: true });
    if (r.status !== 'held') throw new Error();
    expect(r.hold.amount).toBe(100); // the per-message limit sized the hold
    const s = await settle(database, r.hold.id, { promptTokens: 10, completionTokens: 1500, source: 'reported', outcome: 'ok' });
    expect(s).toEqual({ charge: 100, uncollected: 1410, balance: 1900 });
    const row = await sql.get('SELECT charge, uncollected, completion_tokens AS completion FROM holds WHERE id = ?', r.hold.id);
    expect(row).toEqual({ charge: 100, uncollected: 1410, completion: 1500 });
  });

  test('TURNS_PER_USER holds across processes: a reserve past the user\'s open holds answers busy and takes nothing', async () => {
    const turn = (turnKey: string) => reserve(database, { userId, turnKey, model: flat, promptTokens: 10, maxCompletion: 10, maxOpen: 2 });
    const [a, b] = [await turn('one'), await turn('two')];
    expect([a.status, b.status]).toEqual(['held', 'held']);
    expect(await turn('three')).toEqual({ status: 'busy', open: 2 });
    expect(await database.read(balanceOf, userId)).toBe(2000 - 40);
    if (a.status === 'held') await release(database, a.hold.id);
    expect((await turn('three')).status).toBe('held');
  });

  test('a crash mid-turn: recovery charges prompt + delivered, or releases when nothing was delivered', async () => {
    const a = await reserve(database, { userId, turnKey: 'a', model: flat, promptTokens: 30, maxCompletion: 100 });
    const b = await reserve(database, { userId, turnKey: 'b', model: flat, promptTokens: 30, maxCompletion: 100 });
    if (a.status !== 'held' || b.status !== 'held') throw new Error();
    await recordDelivered(database, a.hold.id, 12);
    expect(await recoverHolds(database, 60_000)).toEqual({ settled: 0, released: 0 }); // still young
    expect(await recoverHolds(database, 0)).toEqual({ settled: 1, released: 1 });
    expect(await database.read(balanceOf, userId)).toBe(2000 - 42);
  });

  test('turns reserving at once cannot pass a daily spend limit together: the allowance is read inside the transaction', async () => {
    await database.write(setSpendLimits, userId, { perMessage: null, perDay: 250 });
    const turn = (key: string) =>
      reserve(database, { userId, turnKey: key, model: flat, promptTokens: 100, maxCompletion: 100, limits: true });
    // Three tabs in the same tick: each alone would fit (200 of 250); together they share one transaction.
    // Whichever takes the lock first (on PostgreSQL, any of the three) is held; the others see its hold.
    const results = await Promise.all([turn('tab1'), turn('tab2'), turn('tab3')]);
    const a = results.find((r) => r.status === 'held');
    expect(a).toMatchObject({ status: 'held', hold: { amount: 200, maxCompletion: 100 } });
    const others = results.filter((r) => r !== a);
    expect(others).toHaveLength(2);
    for (const other of others) expect(other).toMatchObject({ status: 'over_limit', allowance: 50 }); // 100 of prompt alone is past what is left
    expect(await database.read(balanceOf, userId)).toBe(1800);
    // The completion shrinks to what the limit leaves before the turn is refused.
    if (a?.status !== 'held') throw new Error();
    await settle(database, a.hold.id, { promptTokens: 100, completionTokens: 20, source: 'reported', outcome: 'ok' }); // 120 spent
    expect(await turn('tab4')).toMatchObject({ status: 'held', hold: { amount: 130, maxCompletion: 30 } });
    // A repeated turn key is still answered with its hold, even past the limit.
    expect(await turn('tab4')).toMatchObject({ status: 'duplicate' });
    const held = await turn('tab4');
    if (held.status === 'duplicate') await release(database, held.hold.id);
  });

  test("another process's sweep leaves a long turn alone while its process marks it alive, and recovers it once that stops", async () => {
    const r = await reserve(database, { userId, turnKey: 'long', model: flat, promptTokens: 30, maxCompletion: 100 });
    if (r.status !== 'held') throw new Error();
    const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString();
    await sql.run('UPDATE holds SET created_at = ? WHERE id = ?', hoursAgo(2), r.hold.id); // a slow model
    const window = 10 * 60_000;
    await heartbeat(database, new Set([r.hold.id])); // what the running process does every 20 s
    expect(await recoverHolds(database, window)).toEqual({ settled: 0, released: 0 }); // no live set: another process
    expect(await database.read(verifyLedger, window)).toEqual([]);

    await sql.run('UPDATE holds SET alive_at = ? WHERE id = ?', hoursAgo(1), r.hold.id); // that process died
    expect(await database.read(verifyLedger, window)).toEqual([
      { userId, holdId: r.hold.id, problem: expect.stringMatching(/^hold open and not heard of since \S+Z, past the recovery window$/) },
    ]);
    expect(await recoverHolds(database, window)).toEqual({ settled: 0, released: 1 });
    expect(await database.read(balanceOf, userId)).toBe(2000);
  });
});

describe('the one-statement reserve and close (one round trip each on PostgreSQL)', () => {
  const closeRows = (holdId: number) => sql.value("SELECT count(*) FROM ledger WHERE hold_id = ? AND kind IN ('settle', 'release')", holdId);
  const openCounted = () => sql.value('SELECT open_holds FROM balances WHERE user_id = ?', userId);

  test('twelve reserves of one user at once, on as many connections: TURNS_PER_USER holds, and the open-hold count stays true', async () => {
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => reserve(database, { userId, turnKey: `at-once-${i}`, model: flat, promptTokens: 10, maxCompletion: 10, maxOpen: 3 })),
    );
    expect(results.filter((r) => r.status === 'held')).toHaveLength(3);
    expect(results.filter((r) => r.status === 'busy')).toHaveLength(9);
    expect(await database.read(balanceOf, userId)).toBe(2000 - 60);
    expect(Number(await openCounted())).toBe(3);
    for (const r of results) if (r.status === 'held') await settle(database, r.hold, { promptTokens: 10, completionTokens: 1, source: 'reported', outcome: 'ok' });
    expect(Number(await openCounted())).toBe(0);
    expect(await database.read(verifyLedger, 3_600_000)).toEqual([]);
  });

  test('one turn key reserved twice at once: one hold, one take; the other is answered with it', async () => {
    const [a, b] = await Promise.all([0, 1].map(() => reserve(database, { userId, turnKey: 'twice', model: flat, promptTokens: 10, maxCompletion: 90 })));
    expect([a!.status, b!.status].sort()).toEqual(['duplicate', 'held']);
    expect(await database.read(balanceOf, userId)).toBe(1900);
    expect(Number(await sql.value("SELECT count(*) FROM ledger WHERE user_id = ? AND kind = 'reserve'", userId))).toBe(1);
  });

  test('a close given terms that are not the hold\'s writes nothing by them: the hold is read and charged at its own', async () => {
    const r = await reserve(database, { userId, turnKey: 'terms', model: flat, promptTokens: 100, maxCompletion: 100 });
    if (r.status !== 'held') throw new Error();
    const wrong = { ...r.hold, amount: r.hold.amount + 1000, completionRate: 0 }; // would refund 1000 more and charge no completion
    const s = await settle(database, wrong, { promptTokens: 100, completionTokens: 50, source: 'reported', outcome: 'ok' });
    expect(s).toEqual({ charge: 150, uncollected: 0, balance: 1850 });
    await expect(settle(database, r.hold, { promptTokens: 100, completionTokens: 50, source: 'reported', outcome: 'ok' })).rejects.toThrow(/already settled/);
    expect(Number(await closeRows(r.hold.id))).toBe(1);
    expect(await database.read(verifyLedger, 3_600_000)).toEqual([]);
  });

  test('a settle and a recovery sweep closing one hold at once: it is closed once, and the ledger adds up', async () => {
    const r = await reserve(database, { userId, turnKey: 'race', model: flat, promptTokens: 100, maxCompletion: 100 });
    if (r.status !== 'held') throw new Error();
    const [settled] = await Promise.allSettled([
      settle(database, r.hold, { promptTokens: 100, completionTokens: 60, source: 'reported', outcome: 'ok' }),
      recoverHolds(database, 0),
    ]);
    expect(Number(await closeRows(r.hold.id))).toBe(1);
    // Whichever closed it, the balance is what that close says: 160 charged, or (recovered, nothing delivered) 0.
    const expected = settled.status === 'fulfilled' ? 2000 - 160 : 2000;
    expect(await database.read(balanceOf, userId)).toBe(expected);
    expect(Number(await openCounted())).toBe(0);
    expect(await database.read(verifyLedger, 3_600_000)).toEqual([]);
  });

  test('ledger verify finds a balance row whose open-hold count is not the holds held', async () => {
    await sql.run('UPDATE balances SET open_holds = 2 WHERE user_id = ?', userId);
    expect(await database.read(verifyLedger, 3_600_000)).toEqual([{ userId, problem: 'balance row and buckets count 2 open holds, 0 are held' }]);
    await sql.run('UPDATE balances SET open_holds = 0 WHERE user_id = ?', userId); // for the check after each test
  });
});

describe('new accounts', () => {
  const hasher = new PasswordHasher(1, 0);
  const counts = () =>
    sql.get('SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM balances) AS balances, (SELECT count(*) FROM ledger) AS ledger, (SELECT count(*) FROM admin_audit) AS audit');

  test('an account, its balance and its signup bonus are written together', async () => {
    const user = await createUser(database, hasher, { username: 'Newcomer', password: 'correct horse', role: 'auto' }, { signupBonus: 2000 });
    expect(user).toMatchObject({ username: 'Newcomer', username_key: 'newcomer', role: 'user', disabled: 0 });
    expect(await database.read(balanceOf, user.id)).toBe(2000);
    expect(await ledgerRows(user.id)).toEqual([{ kind: 'signup_bonus', amount: 2000, after: 2000 }]);
    const before = (await counts()) as { users: number; balances: number; ledger: number };
    const none = await createUser(database, hasher, { username: 'nobonus', password: 'correct horse', role: 'admin' }, { signupBonus: 0 });
    expect(none.role).toBe('admin');
    expect(await counts()).toMatchObject({ users: before.users + 1, balances: before.balances + 1, ledger: before.ledger });
  });

  test('when anything in the transaction fails, no account, balance, ledger or audit row is left', async () => {
    const input = { username: 'halfmade', password: 'correct horse', role: 'user' as const };
    const before = await counts();
    const failing = { signupBonus: 2000, also: () => { throw new Error('the audit row could not be written'); } };
    await expect(createUser(database, hasher, input, failing)).rejects.toThrow('audit row');
    expect(await counts()).toEqual(before);
    // A bonus the ledger refuses stops the account too.
    await expect(createUser(database, hasher, input, { signupBonus: -5 })).rejects.toThrow(LedgerError);
    expect(await counts()).toEqual(before);
    // An admin demoted while the password was hashing: their audit row is refused inside the transaction.
    const formerAdmin = await newUser(); // role 'user'
    const demoted = { signupBonus: 2000, also: (u: { id: number }) => recordUserCreated(formerAdmin, u.id, 'user') };
    const withFormerAdmin = await counts();
    await expect(createUser(database, hasher, input, demoted)).rejects.toBeInstanceOf(NotAnAdmin); // the routes answer 404
    expect(await counts()).toEqual(withFormerAdmin);
  });
});

describe('grants', () => {
  test.each([0, 1.5, -0.5, NaN, Infinity, 1e13, '100', null])('grant of %p is refused and writes no row', async (amount) => {
    const before = await ledgerRows(userId);
    await expect(grant(database, userId, amount)).rejects.toThrow(LedgerError);
    expect(await ledgerRows(userId)).toEqual(before);
  });

  test('a deduction past zero is refused and writes nothing', async () => {
    await expect(grant(database, userId, -2001)).rejects.toThrow('balance would go below zero (it is 2000)');
    expect(await database.read(balanceOf, userId)).toBe(2000);
    expect(await grant(database, userId, -2000, { note: 'all of it' })).toBe(0);
  });

  test('a balance never passes MAX_BALANCE, by grant or by redeeming a code; the code stays unused', async () => {
    await sql.run('UPDATE balances SET balance = ? WHERE user_id = ?', MAX_BALANCE - 10, userId);
    await sql.run(`INSERT INTO ledger (user_id, kind, amount, balance_after) VALUES (?, 'adjust', ?, ?)`, userId, MAX_BALANCE - 2010, MAX_BALANCE - 10);
    const rows = (await ledgerRows(userId)).length;
    await expect(grant(database, userId, 11)).rejects.toThrow(`balance would pass the maximum of ${MAX_BALANCE}`);
    const [code] = await createCodes(database, { tokens: 11, count: 1 });
    await expect(redeem(database, userId, code!)).rejects.toMatchObject({ reason: 'full' });
    expect(await ledgerRows(userId)).toHaveLength(rows);
    expect(await sql.value('SELECT redeemed_by FROM redemption_codes')).toBeNull();
    expect(await grant(database, userId, 10)).toBe(MAX_BALANCE);
  });

  test('writes that arrive together share a commit, and one that fails is rolled back alone', async () => {
    const store = database;
    const results = await Promise.allSettled([
      grant(store, userId, -5000), // refused: below zero
      grant(store, userId, 50),
      reserve(store, { userId, turnKey: 'together', model: flat, promptTokens: 10, maxCompletion: 10 }),
      reserve(store, { userId, turnKey: 'together', model: flat, promptTokens: 10, maxCompletion: 10 }), // the same key
      grant(store, userId, 7),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(LedgerError);
    const reserves = results.slice(2, 4).map((r) => (r.status === 'fulfilled' ? r.value : undefined)) as ReserveResult[];
    // SQLite answers them in arrival order; on PostgreSQL either may commit first.
    expect(ON_POSTGRES ? reserves.map((r) => r.status).sort() : reserves.map((r) => r.status)).toEqual(ON_POSTGRES ? ['duplicate', 'held'] : ['held', 'duplicate']);
    expect(await store.read(balanceOf, userId)).toBe(2000 + 50 - 20 + 7);
    await expectLedger(userId, BONUS_GRANT_RESERVE_GRANT);
    const first = reserves.find((r) => r.status === 'held');
    if (first?.status === 'held') await release(store, first.hold.id);
  });

  test('a write that fails after others in its batch have written: the others are kept once, it is rolled back alone', async () => {
    const store = database;
    const results = await Promise.allSettled([
      grant(store, userId, 50),
      reserve(store, { userId, turnKey: 'last-fails', model: flat, promptTokens: 10, maxCompletion: 10 }),
      grant(store, userId, 7),
      grant(store, userId, -99_999), // refused: below zero, after three writes in the same transaction
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    expect(await store.read(balanceOf, userId)).toBe(2000 + 50 - 20 + 7);
    await expectLedger(userId, BONUS_GRANT_RESERVE_GRANT);
    const held = results[1]!.status === 'fulfilled' ? results[1].value : undefined;
    if (held?.status === 'held') await release(store, held.hold.id);
  });

  /** A CHECK (or, on PostgreSQL, a domain's) refusing a write: each database words it its own way. */
  const refused = ON_POSTGRES ? /violates check constraint/ : /CHECK constraint failed/;

  test('balance >= 0 is enforced by SQL even when code is bypassed', async () => {
    expect(await sql.value('SELECT balance FROM balances WHERE user_id = ?', userId)).toBe(2000);
    // (By message: better-sqlite3's errors come from the first test file's realm in a jest worker, so toThrow may not see an Error.)
    await expect(sql.run('UPDATE balances SET balance = -1 WHERE user_id = ?', userId)).rejects.toMatchObject({ message: expect.stringMatching(refused) });
    expect(await sql.value('SELECT balance FROM balances WHERE user_id = ?', userId)).toBe(2000);
  });

  // Each column rule of the money tables, written around the code: on PostgreSQL most are domains
  // since migration 039 (a CHECK constraint is parsed again for every statement there), and none
  // may have been lost on the way.
  test.each([
    ['balances.last_hold', 'UPDATE balances SET last_hold = -1'],
    ['balances.open_holds', 'UPDATE balances SET open_holds = -1'],
    ['balances.owed', 'UPDATE balances SET owed = -1'],
    ['holds.amount', 'UPDATE holds SET amount = 0'],
    ['holds.max_completion', 'UPDATE holds SET max_completion = 0'],
    ['holds.prompt_tokens', 'UPDATE holds SET prompt_tokens = -1'],
    ['holds.prompt_rate', 'UPDATE holds SET prompt_rate = -1'],
    ['holds.completion_rate', 'UPDATE holds SET completion_rate = -1'],
    ['holds.cached_rate', 'UPDATE holds SET cached_rate = -1'],
    ['holds.delivered', 'UPDATE holds SET delivered = -1'],
    ['holds.charge', 'UPDATE holds SET charge = -1'],
    ['holds.used_prompt_tokens', 'UPDATE holds SET used_prompt_tokens = -1'],
    ['holds.completion_tokens', 'UPDATE holds SET completion_tokens = -1'],
    ['holds.uncollected', 'UPDATE holds SET uncollected = -1'],
    ['holds.latency_ms', 'UPDATE holds SET latency_ms = -1'],
    ['holds.cached_tokens', 'UPDATE holds SET cached_tokens = -1'],
    ['holds.reasoning_tokens', 'UPDATE holds SET reasoning_tokens = -1'],
    ['holds.state', "UPDATE holds SET state = 'spent'"],
    ['holds.source', "UPDATE holds SET source = 'guessed'"],
    ['holds.outcome', "UPDATE holds SET outcome = 'fine'"],
    ['holds.turn_key (empty)', "UPDATE holds SET turn_key = ''"],
    ['holds.turn_key (201)', `UPDATE holds SET turn_key = '${'k'.repeat(201)}'`],
    ['holds.parts', "UPDATE holds SET parts = '[{'"],
    ['ledger.balance_after', 'UPDATE ledger SET balance_after = -1'],
    ['ledger.kind', "UPDATE ledger SET kind = 'gift'"],
    ['ledger.note', `UPDATE ledger SET note = '${'n'.repeat(501)}'`],
    ['ledger.amount (zero, not a close)', "UPDATE ledger SET amount = 0 WHERE kind = 'reserve'"],
    ['ledger.hold_id (a reserve without its hold)', "UPDATE ledger SET hold_id = NULL WHERE kind = 'reserve'"],
  ])('%s: a write around the code that breaks its rule is refused and changes nothing', async (_rule, statement) => {
    const held = await reserve(database, { userId, turnKey: 'rules', model: flat, promptTokens: 10, maxCompletion: 10 });
    if (held.status !== 'held') throw new Error(held.status);
    await settle(database, held.hold, { promptTokens: 10, completionTokens: 4, source: 'reported', outcome: 'ok' });
    const rows = () => Promise.all(['balances', 'holds', 'ledger'].map((t) => sql.all(`SELECT * FROM ${t} ORDER BY 1`)));
    const before = await rows();
    await expect(sql.run(statement)).rejects.toMatchObject({ message: expect.stringMatching(refused) });
    expect(await rows()).toEqual(before);
  });
});

describe('redemption codes', () => {
  test('a code redeems once, case-insensitively, with look-alike letters forgiven', async () => {
    const [code] = await createCodes(database, { tokens: 500, count: 1 });
    expect(code).toMatch(/^TC(-[0-9A-HJKMNP-TV-Z]{5}){4}$/);
    const sloppy = code!.toLowerCase().replace(/-/g, ' ').replace(/0/g, 'o').replace(/1/g, 'l');
    expect(await redeem(database, userId, sloppy)).toEqual({ tokens: 500, balance: 2500 });
    await expect(redeem(database, userId, code!)).rejects.toEqual(new CodeError('used'));
    const other = await newUser();
    await expect(redeem(database, other, code!)).rejects.toThrow('code is used');
    expect(await database.read(balanceOf, other)).toBe(0);
  });

  test('unknown and expired codes are refused and credit nothing', async () => {
    await expect(redeem(database, userId, 'TC-AAAAA-AAAAA-AAAAA-AAAAA')).rejects.toThrow('code is unknown');
    const [code] = await createCodes(database, { tokens: 5, count: 1, expiresAt: new Date(Date.now() + 60_000) });
    await sql.run(`UPDATE redemption_codes SET expires_at = '2000-01-01T00:00:00.000Z'`);
    await expect(redeem(database, userId, code!)).rejects.toThrow('code is expired');
    expect(await database.read(balanceOf, userId)).toBe(2000);
  });

  test('codes are stored hashed, never in plain text', async () => {
    const codes = await createCodes(database, { tokens: 5, count: 3 });
    const dump = JSON.stringify(await sql.all('SELECT * FROM redemption_codes'));
    for (const c of codes) expect(dump).not.toContain(c.slice(3, 8));
  });
});

// Upgrading a SQLite file written before migration 003 is SQLite's alone: PostgreSQL starts from
// its own schema (migrations/postgres), which never had the old usage table.
describe('migration 003', () => {
  if (!ON_POSTGRES) test('usage rows written before it move onto their holds and read the same through the usage view', async () => {
    const dir = tempDir();
    const old = openDatabase(dir);
    migrate(old, readMigrations().filter((m) => m.version <= 2));
    const raw = old.raw;
    const id = Number(raw.prepare(`INSERT INTO users (username, username_key, password_hash) VALUES ('old', 'old', '$argon2id$x')`).run().lastInsertRowid);
    raw.prepare('INSERT INTO balances (user_id, balance) VALUES (?, 0)').run(id);
    const hold = raw
      .prepare(`INSERT INTO holds (user_id, turn_key, model, amount, prompt_tokens, max_completion, prompt_rate, completion_rate, state, charge, closed_at)
                VALUES (?, 'k', 'demo', 30, 10, 20, 1000000, 1000000, 'settled', 25, '2026-01-02T03:04:05.000Z') RETURNING id`)
      .pluck()
      .get(id) as number;
    raw.prepare(`INSERT INTO usage (user_id, hold_id, model, prompt_tokens, completion_tokens, charge, source, outcome, latency_ms, conversation_id, message_id, created_at)
                 VALUES (?, ?, 'demo', 11, 14, 25, 'reported', 'ok', 321, 7, 8, '2026-01-02T03:04:05.500Z')`).run(id, hold);
    migrate(old);
    expect(raw.prepare('SELECT * FROM usage').all()).toEqual([
      {
        id: hold, user_id: id, hold_id: hold, model: 'demo', prompt_tokens: 11, completion_tokens: 14, charge: 25, uncollected: 0,
        source: 'reported', outcome: 'ok', latency_ms: 321, conversation_id: 7, message_id: 8, api_request_id: null,
        created_at: '2026-01-02T03:04:05.000Z',
      },
    ]);
    await old.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

