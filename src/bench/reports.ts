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
import { migrate, openDatabase } from '../db';
import { seedClosedTurns } from '../storage/sqlite/seed';
import { dashboardData, summary, topUsers } from '../reports/usage-report';
import { rollUpStep } from '../reports/usage-rollup';

const TURNS = 200_000;
const USERS = 300;
const DAYS = 90;
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'demo'];

async function median(fn: () => Promise<unknown>, runs = 7): Promise<number> {
  await fn(); // warm
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[Math.floor(runs / 2)]! * 100) / 100;
}

export async function benchReports(): Promise<Record<string, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenchat-bench-'));
  const database = openDatabase(dir);
  try {
    migrate(database);
    const heavy = seedClosedTurns(database, { turns: TURNS, users: USERS, days: DAYS, models: MODELS });
    const monthStart = `${new Date().toISOString().slice(0, 7)}-01T00:00:00.000Z`;
    const dashboard = () => database.read(dashboardData, heavy);
    const admin = async () => [await database.read(summary), await database.read(topUsers, 10), await database.read(topUsers, 10, monthStart)];
    const direct = { dashboard: await median(dashboard, 3), admin: await median(admin, 3) };
    let worst = 0;
    const start = process.hrtime.bigint();
    for (;;) {
      const stepStart = process.hrtime.bigint();
      if (!(await database.write(rollUpStep))) break;
      worst = Math.max(worst, Number(process.hrtime.bigint() - stepStart) / 1e6);
    }
    const firstRun = Number(process.hrtime.bigint() - start) / 1e6;
    return {
      reports_dashboard_ms: await median(dashboard),
      reports_dashboard_direct_ms: direct.dashboard,
      reports_admin_ms: await median(admin),
      reports_admin_direct_ms: direct.admin,
      rollup_first_run_ms: Math.round(firstRun),
      rollup_worst_step_ms: Math.round(worst * 10) / 10,
    };
  } finally {
    await database.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
