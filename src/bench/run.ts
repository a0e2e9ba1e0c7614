// npm run bench [-- --json]: figures measured in one run on this machine. Not part of the app.
import os from 'node:os';
import { benchBurst } from './burst';
import { benchChat } from './chat';
import { benchCounting } from './count';
import { benchFlood } from './flood';
import { benchLedger } from './ledger';
import { benchLongAnswer } from './long-answer';
import { benchPgLedger } from './pg-ledger';
import { benchReports } from './reports';
import { benchRelay } from './relay';

const BUDGETS: Record<string, string> = {
  ledger_pairs_per_s: '>= 10000 (32 turns in flight)',
  ledger_pairs_per_s_sequential: '(one turn at a time)',
  ledger_pairs_per_s_allowance: '(32 members of a group with an allowance and own tokens, at 50 percent)',
  ledger_allowance_ratio: '>= 0.9 (allowance over ledger_pairs_per_s, same run)',
  count_mib_per_s: '(throughput; no budget)',
  count_max_lag_ms: '<= 50',
  stream_token_p50_ms: '',
  stream_token_p99_ms: '<= 5',
  page_100_turns_p50_ms: '< 50',
  page_100_turns_p99_ms: '',
  reports_dashboard_ms: '(200,000 turns; heavy user with 50,000)',
  reports_dashboard_direct_ms: '(every turn added up, as before the rollup)',
  reports_admin_ms: '(system summary + top users)',
  reports_admin_direct_ms: '(every turn added up)',
  rollup_first_run_ms: '(one-off, a day per step)',
  rollup_worst_step_ms: '(longest event-loop hold of that)',
  pg_ledger_pairs_per_s: '(32 users, one turn each in flight; TEST_DATABASE_URL)',
  pg_ledger_tx_per_s: '>= pgbench_tps (2 transactions a pair)',
  pgbench_tps: '(pgbench -b simple-update -c 32 -s 10, same database)',
  pg_reserve_p99_ms: '',
  relay_overhead_p50_ms: '<= 3 x bare_overhead_p50_ms (/v1 non-streamed, over calling the model API directly)',
  relay_overhead_p99_ms: '(beside bare_overhead_p99_ms)',
  bare_overhead_p50_ms: '(a bare Node pass-through proxy, same run, interleaved)',
  bare_overhead_p99_ms: '',
  relay_ttft_overhead_p50_ms: '<= 3 x bare_ttft_overhead_p50_ms (streamed, to the first token)',
  relay_ttft_overhead_p99_ms: '(beside bare_ttft_overhead_p99_ms)',
  bare_ttft_overhead_p50_ms: '',
  bare_ttft_overhead_p99_ms: '',
  relay_rps: '>= 0.5 x bare_rps (autocannon from a second process, 32 connections)',
  bare_rps: '',
  relay_2p_overhead_p50_ms: '(the same relay, the model served by two providers, the first answering)',
  relay_2p_overhead_p99_ms: '',
  providers_overhead_ratio_p50: '<= 1.1 (relay_2p over relay, same run)',
  providers_overhead_ratio_p99: '<= 1.1',
  turn_cpu_ms: '<= 2 x bare_turn_cpu_ms (server CPU per streamed chat turn, 40 chunks, after 500 warm-up turns)',
  bare_turn_cpu_ms: '(a bare Node proxy, its own process, the same batch)',
  turn_cpu_ratio: '<= 2',
  turn_cpu_cold_ms: '(the same batch 10 turns after the server started, before the warm-up)',
  bare_turn_cpu_cold_ms: '',
  turn_cpu_per_chunk_short_us: '(server CPU per chunk around chunk 20 of an answer; 8 answers at once, in step)',
  turn_cpu_per_chunk_long_us: '(the same around chunk 2,000 of the same answers, 12 KB of markdown in)',
  turn_cpu_per_chunk_long_ratio: '<= 1.5 (long over short, same run)',
  burst_200_first_token_p50_ms: '(200 users press Enter at once; to the first answer text)',
  burst_200_first_token_p99_ms: '<= 3 x bare_burst_200_first_token_p99_ms',
  bare_burst_200_first_token_p99_ms: '',
  burst_first_token_ratio: '<= 3',
  idle_healthz_p99_ms: '',
  burst_200_healthz_p99_ms: '<= 5 x idle_healthz_p99_ms (asked one after another during the burst)',
  idle_page_p99_ms: '(a conversation page)',
  burst_200_page_p99_ms: '<= 5 x idle_page_p99_ms',
  burst_200_first_token_p50_2w_ms: '(the same burst, WEB_CONCURRENCY=2: two worker processes)',
  burst_200_first_token_p99_2w_ms: '(about half burst_200_first_token_p99_ms on 2 cores)',
  burst_first_token_ratio_2w: '(over bare_burst_200_first_token_p99_ms of that run)',
  burst_200_healthz_p99_2w_ms: '',
  flood_quiet_turn_ms: "(another user's page turn, to its first answer text, between the floods)",
  flood_estimate_200k_turn_ms: '(the same, while one user sends 40 estimates of 200,000 characters at once)',
  flood_estimate_100k_turn_ms: '(... 40 estimates of 100,000 characters, the most the composer takes)',
  flood_send_100k_turn_ms: '(... 40 turns of 100,000 characters)',
  flood_other_turn_ratio: '<= 3 (the worst flood over quiet)',
};

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const figures: Record<string, number> = {};
  Object.assign(figures, await benchLedger());
  Object.assign(figures, await benchCounting());
  Object.assign(figures, await benchChat());
  Object.assign(figures, await benchReports());
  Object.assign(figures, await benchRelay());
  Object.assign(figures, await benchBurst());
  Object.assign(figures, await benchLongAnswer());
  Object.assign(figures, await benchBurst(2));
  Object.assign(figures, await benchFlood());
  if (process.env.TEST_DATABASE_URL) Object.assign(figures, await benchPgLedger(process.env.TEST_DATABASE_URL));
  if (json) {
    console.log(JSON.stringify(figures));
    return;
  }
  const cpu = os.cpus();
  console.log(`machine: ${cpu.length} x ${cpu[0]?.model ?? 'unknown cpu'}, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
  for (const [key, value] of Object.entries(figures)) console.log(`${key.padEnd(28)} ${String(value).padStart(10)}  ${BUDGETS[key] ?? ''}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
