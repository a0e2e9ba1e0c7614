// Report figures for `npm run bench`: how long the spending reports hold the event loop on a
// database with 200,000 closed turns (300 users over 90 days, one heavy user with a quarter of
// them), adding up every turn versus reading the usage rollup (usage-rollup.ts).
// - reports_dashboard_ms / reports_dashboard_direct_ms: the heavy user's dashboard (refreshed
//   after every turn and every 30 s), with the rollup caught up / with nothing rolled up.
// - reports_admin_ms / reports_admin_direct_ms: the admin usage page's figures (system summary,
//   top users this month and all time).
// - rollup_first_run_ms, rollup_worst_step_ms: rolling all of it up the first time, and the
//   longest single step (one UTC day, one transaction) of that.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type SqliteDatabase from 'better-sqlite3';
import { migrate, openDatabase } from '../db';
import { dashboardData, summary, topUsers } from '../usage-report';
import { rollUpStep } from '../usage-rollup';

const TURNS = 200_000;
const USERS = 300;
const DAYS = 90;
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'demo'];

function median(fn: () => unknown, runs = 7): number {
  fn(); // warm
  const times = Array.from({ length: runs }, () => {
    const start = process.hrtime.bigint();
    fn();
    return Number(process.hrtime.bigint() - start) / 1e6;
  }).sort((a, b) => a - b);
  return Math.round(times[Math.floor(runs / 2)]! * 100) / 100;
}

function fill(raw: SqliteDatabase.Database): number {
  const addUser = raw.prepare(`INSERT INTO users (username, username_key, password_hash) VALUES (?, ?, '$argon2id$x') RETURNING id`).pluck();
  const users = Array.from({ length: USERS }, (_, i) => addUser.get(`report${i}`, `report${i}`) as number);
  const addTurn = raw.prepare(
    `INSERT INTO holds (user_id, turn_key, model, amount, prompt_tokens, max_completion, prompt_rate, completion_rate, state, charge,
       created_at, closed_at, used_prompt_tokens, completion_tokens, source, outcome, conversation_id)
     VALUES (?, ?, ?, 2000, 300, 1000, 1000000, 4000000, 'settled', ?, ?, ?, 300, ?, 'reported', 'ok', ?)`,
  );
  let seed = 2026;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  raw.transaction(() => {
    for (let i = 0; i < TURNS; i++) {
      const user = rand() < 0.25 ? users[0]! : users[Math.floor(rand() * USERS)]!;
      const at = new Date(Date.now() - Math.floor(rand() * DAYS * 86_400_000)).toISOString();
      const completion = Math.floor(rand() * 800);
      addTurn.run(user, `t${i}`, MODELS[Math.floor(rand() * MODELS.length)], 300 + 4 * completion, at, at, completion, Math.floor(rand() * 50));
    }
  })();
  return users[0]!;
}

export async function benchReports(): Promise<Record<string, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenchat-bench-'));
  const database = openDatabase(dir);
  try {
    migrate(database);
    const raw = database.raw;
    const heavy = fill(raw);
    const monthStart = `${new Date().toISOString().slice(0, 7)}-01T00:00:00.000Z`;
    const dashboard = () => dashboardData(raw, heavy);
    const admin = () => [summary(raw), topUsers(raw, 10), topUsers(raw, 10, monthStart)];
    const direct = { dashboard: median(dashboard, 3), admin: median(admin, 3) };
    let worst = 0;
    const start = process.hrtime.bigint();
    for (;;) {
      const stepStart = process.hrtime.bigint();
      if (!rollUpStep(raw)) break;
      worst = Math.max(worst, Number(process.hrtime.bigint() - stepStart) / 1e6);
    }
    const firstRun = Number(process.hrtime.bigint() - start) / 1e6;
    return {
      reports_dashboard_ms: median(dashboard),
      reports_dashboard_direct_ms: direct.dashboard,
      reports_admin_ms: median(admin),
      reports_admin_direct_ms: direct.admin,
      rollup_first_run_ms: Math.round(firstRun),
      rollup_worst_step_ms: Math.round(worst * 10) / 10,
    };
  } finally {
    await database.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
