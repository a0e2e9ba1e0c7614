// Ledger figures for `npm run bench`: reserve+settle pairs per second on a real SQLite file (WAL,
// synchronous=NORMAL), the way the chat page runs turns, with `ledger verify` clean afterwards.
// - ledger_pairs_per_s: 32 turns in flight at once (32 users, each turn reserve -> settle), the
//   server's case; turns that arrive together share a commit (group commit in ledger.ts).
// - ledger_pairs_per_s_sequential: one turn at a time, each reserve and settle its own commit.
// - ledger_pairs_per_s_allowance: as ledger_pairs_per_s, for 32 members of a group with a monthly
//   allowance and own tokens, at 50 percent of the price (issue 24); ledger_allowance_ratio is it
//   over the one-bucket figure, measured in the same run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrate, openDatabase } from '../db';
import { query, type Op, type Store } from '../storage/op';
import { openAccount, reserve, settle } from '../ledger/ledger';
import { verifyLedger } from '../ledger/verify';
import { loadModels, type ModelInfo } from '../metering/models';
import { addMembers, createGroup } from '../groups/groups';
import { setAllowance } from '../groups/allowances';
import { pricedAt } from '../groups/access';

const IN_FLIGHT = 32;

async function pair(store: Store, userId: number, turnKey: string, model: ModelInfo): Promise<void> {
  const r = await reserve(store, { userId, turnKey, model, promptTokens: 120, maxCompletion: 512 });
  if (r.status !== 'held') throw new Error(`reserve ${turnKey}: ${r.status}`);
  await settle(store, r.hold, { promptTokens: 120, completionTokens: 200, source: 'reported', outcome: 'ok' });
}

const ROUNDS = 4;

/** Seconds taken by `pairs` turns, `lanes` of them in flight at once, one user per lane. */
async function seconds(store: Store, users: number[], model: ModelInfo, pairs: number, tag: string): Promise<number> {
  const start = process.hrtime.bigint();
  await Promise.all(
    users.map(async (userId, lane) => {
      for (let i = lane; i < pairs; i += users.length) await pair(store, userId, `${tag}${i}`, model);
    }),
  );
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Pairs per second for `pairs` turns, as `seconds` runs them. */
async function rate(store: Store, users: number[], model: ModelInfo, pairs: number, tag: string): Promise<number> {
  return Math.round(pairs / (await seconds(store, users, model, pairs, tag)));
}

/** An account with a billion tokens and a password hash nobody can sign in with. */
function* benchUser(name: string): Op<number> {
  const user = yield* query('accounts.insert', { username: name, key: name, hash: '$argon2id$x', role: 'user' });
  if (!user) throw new Error(`${name} exists`);
  yield* openAccount(user.id, 1_000_000_000);
  return user.id;
}

export async function benchLedger(pairs = 20_000): Promise<{
  ledger_pairs_per_s: number; ledger_pairs_per_s_sequential: number; ledger_pairs_per_s_allowance: number; ledger_allowance_ratio: number;
}> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenchat-bench-'));
  const database = openDatabase(dir);
  try {
    migrate(database);
    const users = await Promise.all(Array.from({ length: IN_FLIGHT }, (_, i) => database.write(benchUser, `bench${i}`)));
    const members = await Promise.all(Array.from({ length: IN_FLIGHT }, (_, i) => database.write(benchUser, `member${i}`)));
    const group = await database.write(createGroup, null, 'Bench class');
    await database.write(addMembers, null, group, members);
    await database.write(setAllowance, null, group, { amount: 100_000_000_000, period: 'month', mode: 'reset', cap: null, join: 'full' }, 'now');
    const model = loadModels().find('gpt-4o-mini');
    if (!model) throw new Error('models.json has no gpt-4o-mini');
    const half = pricedAt(model, 50);
    await rate(database, users, model, 2000, 'warm'); // JIT and page cache
    await rate(database, members, half, 2000, 'warm');
    const sequential = await rate(database, users.slice(0, 1), model, pairs, 'seq');
    // Interleaved, in rounds: the tables grow as the run goes, so neither figure gets the emptier file.
    let own = 0;
    let fromAllowance = 0;
    for (let round = 0; round < ROUNDS; round++) {
      own += await seconds(database, users, model, pairs / ROUNDS, `par${round}-`);
      fromAllowance += await seconds(database, members, half, pairs / ROUNDS, `par${round}-`);
    }
    const concurrent = Math.round(pairs / own);
    const allowance = Math.round(pairs / fromAllowance);
    const violations = await database.read(verifyLedger, 3_600_000);
    if (violations.length) throw new Error(`ledger invariants broken: ${JSON.stringify(violations)}`);
    return {
      ledger_pairs_per_s: concurrent, ledger_pairs_per_s_sequential: sequential, ledger_pairs_per_s_allowance: allowance,
      ledger_allowance_ratio: Math.round((allowance / concurrent) * 100) / 100,
    };
  } finally {
    await database.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
