// Ledger figure for `npm run bench`: reserve+settle pairs per second on a real SQLite file (WAL,
// synchronous=NORMAL), one user, the way the chat page runs a turn; the ledger is verified after.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrate, openDatabase } from '../db';
import { openAccount, reserve, settle } from '../ledger';
import { verifyLedger } from '../ledger-verify';
import { loadModels } from '../models';

export async function benchLedger(pairs = 20_000): Promise<{ ledger_pairs_per_s: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenchat-bench-'));
  const database = openDatabase(dir);
  try {
    migrate(database);
    const raw = database.raw;
    const insertUser = raw.prepare(`INSERT INTO users (username, username_key, password_hash) VALUES ('bench', 'bench', '$argon2id$x')`);
    const userId = Number(insertUser.run().lastInsertRowid);
    await openAccount(raw, userId, 1_000_000_000);
    const model = loadModels().find('gpt-4o-mini');
    if (!model) throw new Error('models.json has no gpt-4o-mini');
    const run = async (n: number, tag: string) => {
      for (let i = 0; i < n; i++) {
        const r = await reserve(raw, { userId, turnKey: `${tag}${i}`, model, promptTokens: 120, maxCompletion: 512 });
        if (r.status !== 'held') throw new Error(`reserve ${tag}${i}: ${r.status}`);
        await settle(raw, r.hold.id, { promptTokens: 120, completionTokens: 200, source: 'reported', outcome: 'ok' });
      }
    };
    await run(2000, 'warm');
    const start = process.hrtime.bigint();
    await run(pairs, 'k');
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const violations = verifyLedger(raw, 3_600_000);
    if (violations.length) throw new Error(`ledger invariants broken: ${JSON.stringify(violations)}`);
    return { ledger_pairs_per_s: Math.round(pairs / seconds) };
  } finally {
    await database.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
