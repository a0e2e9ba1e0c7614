// Ledger figures for `npm run bench`: reserve+settle pairs per second on a real SQLite file (WAL,
// synchronous=NORMAL), the way the chat page runs turns, with `ledger verify` clean afterwards.
// - ledger_pairs_per_s: 32 turns in flight at once (32 users, each turn reserve -> settle), the
//   server's case; turns that arrive together share a commit (group commit in ledger.ts).
// - ledger_pairs_per_s_sequential: one turn at a time, each reserve and settle its own commit.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type SqliteDatabase from 'better-sqlite3';
import { migrate, openDatabase } from '../db';
import { openAccount, reserve, settle } from '../ledger';
import { verifyLedger } from '../ledger-verify';
import { loadModels, type ModelInfo } from '../models';

const IN_FLIGHT = 32;

async function pair(raw: SqliteDatabase.Database, userId: number, turnKey: string, model: ModelInfo): Promise<void> {
  const r = await reserve(raw, { userId, turnKey, model, promptTokens: 120, maxCompletion: 512 });
  if (r.status !== 'held') throw new Error(`reserve ${turnKey}: ${r.status}`);
  await settle(raw, r.hold.id, { promptTokens: 120, completionTokens: 200, source: 'reported', outcome: 'ok' });
}

/** Pairs per second for `pairs` turns, `lanes` of them in flight at once, one user per lane. */
async function rate(raw: SqliteDatabase.Database, users: number[], model: ModelInfo, pairs: number, tag: string): Promise<number> {
  const start = process.hrtime.bigint();
  await Promise.all(
    users.map(async (userId, lane) => {
      for (let i = lane; i < pairs; i += users.length) await pair(raw, userId, `${tag}${i}`, model);
    }),
  );
  return Math.round(pairs / (Number(process.hrtime.bigint() - start) / 1e9));
}

export async function benchLedger(pairs = 20_000): Promise<{ ledger_pairs_per_s: number; ledger_pairs_per_s_sequential: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenchat-bench-'));
  const database = openDatabase(dir);
  try {
    migrate(database);
    const raw = database.raw;
    const insertUser = raw.prepare(`INSERT INTO users (username, username_key, password_hash) VALUES (?, ?, '$argon2id$x') RETURNING id`).pluck();
    const users = Array.from({ length: IN_FLIGHT }, (_, i) => insertUser.get(`bench${i}`, `bench${i}`) as number);
    for (const id of users) await openAccount(raw, id, 1_000_000_000);
    const model = loadModels().find('gpt-4o-mini');
    if (!model) throw new Error('models.json has no gpt-4o-mini');
    await rate(raw, users, model, 2000, 'warm'); // JIT and page cache
    const sequential = await rate(raw, users.slice(0, 1), model, pairs, 'seq');
    const concurrent = await rate(raw, users, model, pairs, 'par');
    const violations = verifyLedger(raw, 3_600_000);
    if (violations.length) throw new Error(`ledger invariants broken: ${JSON.stringify(violations)}`);
    return { ledger_pairs_per_s: concurrent, ledger_pairs_per_s_sequential: sequential };
  } finally {
    await database.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
