// npm run bench [-- --json]: figures measured in one run on this machine.
// Ledger: reserve+settle pairs per second on a real SQLite file (WAL, synchronous=NORMAL).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { migrate, openDatabase } = require('../dist/db');
const { openAccount, reserve, settle } = require('../dist/ledger');
const { verifyLedger } = require('../dist/ledger-verify');
const { loadModels } = require('../dist/models');

async function ledgerPairsPerSecond(pairs) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenchat-bench-'));
  const database = openDatabase(dir);
  migrate(database);
  const raw = database.raw;
  const userId = Number(raw.prepare(`INSERT INTO users (username, username_key, password_hash) VALUES ('bench', 'bench', '$argon2id$x')`).run().lastInsertRowid);
  await openAccount(raw, userId, 1_000_000_000);
  const model = loadModels().find('gpt-4o-mini');
  const run = async (n, tag) => {
    for (let i = 0; i < n; i++) {
      const r = await reserve(raw, { userId, turnKey: `${tag}${i}`, model, promptTokens: 120, maxCompletion: 512 });
      await settle(raw, r.hold.id, { promptTokens: 120, completionTokens: 200, source: 'reported', outcome: 'ok' });
    }
  };
  await run(1000, 'warm');
  const start = process.hrtime.bigint();
  await run(pairs, 'k');
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const violations = verifyLedger(raw, 3_600_000);
  await database.close();
  fs.rmSync(dir, { recursive: true, force: true });
  if (violations.length) throw new Error(`ledger invariants broken: ${JSON.stringify(violations)}`);
  return Math.round(pairs / seconds);
}

async function main() {
  const json = process.argv.includes('--json');
  const figures = { ledger_pairs_per_s: await ledgerPairsPerSecond(20_000) };
  if (json) return console.log(JSON.stringify(figures));
  console.log(`machine: ${os.cpus().length} x ${os.cpus()[0].model}, node ${process.version}`);
  console.log(`ledger reserve+settle pairs/s (SQLite file): ${figures.ledger_pairs_per_s}  (budget >= 10000)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
