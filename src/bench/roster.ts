// The roster import's figure (issue 25): 1,000 people, every password generated (the worst case:
// 1,000 argon2id hashes), applied to a new group on a fresh database, with HASH_CONCURRENCY hashes
// at once as the server runs them; roster_apply_cpu_ms is the CPU it took (all threads), which a
// busy machine does not inflate as it does the wall time. Run it alone:
//   node -e "require('./dist/bench/roster.js').benchRoster(1000, 2).then(console.log)"
// (with DATABASE_URL=postgres://… for PostgreSQL, in a schema of its own that is dropped after).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { migrateStore, openStore } from '../db';
import { PasswordHasher } from '../accounts/passwords';
import { createGroup } from '../groups/groups';
import { applyRoster, planRoster } from '../groups/roster';
import { schemaOn } from '../storage/postgres/store';

export async function benchRoster(rows: number, concurrency: number): Promise<Record<string, number | string>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenchat-bench-roster-'));
  const databaseUrl = process.env.DATABASE_URL;
  const schema = databaseUrl ? `bench_roster_${process.pid}` : undefined;
  if (databaseUrl && schema) await schemaOn(databaseUrl, schema, 'create');
  const store = openStore({ dataDir: dir, databaseUrl, databasePoolSize: 4, sessionIdleMs: 60_000 }, schema);
  try {
    await migrateStore(store);
    const groupId = await store.write(createGroup, null, 'Bench year');
    const text = ['username,display name,email', ...Array.from({ length: rows }, (_, i) => `bench_${i},Student ${i},s${i}@school.example`)].join('\n');
    let t = performance.now();
    await planRoster(store, groupId, text);
    const dryRunMs = performance.now() - t;
    t = performance.now();
    const cpu = process.cpuUsage();
    const result = await applyRoster(store, new PasswordHasher(concurrency, 0), { actorId: null, groupId, text, expected: null, signupBonus: 0, concurrency });
    const applyMs = performance.now() - t;
    // CPU of every thread (argon2 runs in libuv's pool): what the apply costs whatever else the machine runs.
    const used = process.cpuUsage(cpu);
    const applyCpuMs = (used.user + used.system) / 1000;
    t = performance.now();
    const again = await planRoster(store, groupId, text);
    const secondMs = performance.now() - t;
    if (result.plan.counts.create !== rows || again.counts.unchanged !== rows) throw new Error('roster bench: not every row imported');
    return { database: store.dialect, rows, concurrency, roster_dry_run_ms: Math.round(dryRunMs), roster_apply_ms: Math.round(applyMs), roster_apply_cpu_ms: Math.round(applyCpuMs), roster_second_dry_run_ms: Math.round(secondMs) };
  } finally {
    await store.close();
    if (databaseUrl && schema) await schemaOn(databaseUrl, schema, 'drop');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
