// The cost of a chat turn, for `npm run bench`: tokenchat, a bare proxy (floor.ts) and a model API
// that streams CHUNKS pieces CHUNK_GAP_MS apart each run as their own process; this process is the
// browsers. Figures, each beside the floor's measured in the same run:
// - turn_cpu_ms / bare_turn_cpu_ms: server CPU per streamed turn (short prompt), read from each
//   server process (/proc) around the same batch of TURN_BATCH turns, once each server has taken
//   WARM_TURNS turns (V8 optimises a turn's code over its first few hundred). Goal: <= 2x the
//   floor's (DESIGN.md). turn_cpu_cold_ms / bare_turn_cpu_cold_ms: the same batch 10 turns after start.
// - burst_200_first_token_p99_ms / bare_...: BURST signed-in users send one turn each at once;
//   until the first answer text reaches each. Goal: <= 3x the floor's.
// - burst_200_healthz_p99_ms and burst_200_page_p99_ms beside their idle p99s: /healthz and a
//   conversation page, asked one after another while the burst runs. Goal: <= 5x idle.
// - burst_200_first_token_p99_2w_ms (benchBurst(2)): the same burst, the app serving with
//   WEB_CONCURRENCY=2 (two worker processes on one port); reported beside the one-process figure.
// The users are made in the database directly and signed in through the form; the queue and the
// turn limits are raised so no turn waits, and every turn's charge is checked to be the same.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { PasswordHasher } from '../accounts/passwords';
import { createUser } from '../accounts/users';
import { listConversations, messagesOf } from '../chat/conversations';
import { openStore } from '../storage';
import { Client, percentile, round2 } from './http-client';
import { CHUNKS, piece } from './floor';
import { cpuMs, floorPair, inLanes, start, stopAll, type Proc } from './processes';

const BURST = 200;
const TURN_BATCH = 100;
const BATCH_PARALLEL = 25;
/**
 * Turns each server takes before its CPU per turn is read: a fresh process runs a turn's code
 * unoptimised for its first hundreds of turns (the app 16.7-20.1 ms of CPU a turn over its first
 * 210, 10.2-15.5 ms after 500 more; BENCHMARKS.md, 2026-12-07 15:00). A server's life is millions.
 */
const WARM_TURNS = Number(process.env.BURST_WARM_TURNS ?? 500);
const WARM_PARALLEL = 100;
const PROMPT = 'Explain in a few sentences what a token is.';
const MODEL = 'gpt-4o-mini';
const CLI = path.join(__dirname, '..', 'cli', 'main.js');
const FIRST = piece(0).trim();
const LAST = piece(CHUNKS - 1).trim();

/** Reads a streamed answer to its end: when its first answer text came (ms after `since`), and whether it was whole. */
async function firstText(res: Response, since: number): Promise<number> {
  if (res.status !== 200) throw new Error(`burst bench: a turn answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  const decoder = new TextDecoder();
  let first = 0;
  let tail = '';
  let whole = false;
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    const text = tail + decoder.decode(bytes, { stream: true });
    if (!first && text.includes(FIRST)) first = performance.now() - since;
    if (text.includes(LAST)) whole = true;
    tail = text.slice(-16);
  }
  if (!first || !whole) throw new Error('burst bench: an answer ended before its last piece');
  return first;
}

interface User {
  client: Client;
  csrf: string;
}

let turnCount = 0;

async function pageTurn(user: User): Promise<number> {
  const since = performance.now();
  const res = await user.client.form('/send', { _csrf: user.csrf, turn_key: `burst-turn-${turnCount++}`, message: PROMPT, model: MODEL }, {
    'HX-Request': 'true', Accept: 'text/html, text/event-stream',
  });
  return firstText(res, since);
}

async function bareTurn(base: string): Promise<number> {
  const since = performance.now();
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: PROMPT }], stream: true, stream_options: { include_usage: true } }),
  });
  return firstText(res, since);
}

/** `count` calls of `turn`, `parallel` at a time: the server's CPU per call. */
async function cpuPerTurn(proc: Proc, count: number, parallel: number, turn: (i: number) => Promise<number>): Promise<number> {
  const before = cpuMs(proc.child.pid!);
  let next = 0;
  await inLanes(count, parallel, () => turn(next++));
  return (cpuMs(proc.child.pid!) - before) / count;
}

/** Sequential requests to `path`, each timed, until `until` settles (or `count` of them, when idle). */
async function probe(base: string, path: string, client: Client | undefined, until: Promise<unknown> | number): Promise<number[]> {
  const times: number[] = [];
  let done = false;
  if (typeof until !== 'number') void until.finally(() => (done = true));
  while (typeof until === 'number' ? times.length < until : !done) {
    const since = performance.now();
    const res = client ? await client.request(path) : await fetch(base + path);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`burst bench: ${path} answered ${res.status}`);
    times.push(performance.now() - since);
    await new Promise((r) => setTimeout(r, 10));
  }
  return times.sort((a, b) => a - b);
}

const p99 = (sorted: number[]) => round2(percentile(sorted, 99));

/** `workers`: the app's WEB_CONCURRENCY; with more than 1 the burst's figures only, named `_<workers>w` (the CPU figures read one process). */
export async function benchBurst(workers = 1): Promise<Record<string, number>> {
  if (!fs.existsSync('/proc/self/stat')) throw new Error('burst bench: reads process CPU from /proc (Linux)');
  const dataDir = fs.mkdtempSync('/tmp/tokenchat-bench-burst-');
  const procs: Proc[] = [];
  try {
    const { upstream, bare } = await floorPair('upstream', procs);
    // BURST_PROFILE=<dir>: the app writes a CPU profile there when it stops.
    const profile = process.env.BURST_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BURST_PROFILE}`] : [];
    const app = await start([...profile, CLI, 'serve'], {
      ...process.env, NODE_ENV: 'production', PORT: '0', DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'info',
      OPENAI_API_KEY: 'sk-bench', OPENAI_BASE_URL: `${upstream.base}/v1`, MODELS_FILE: '', WEB_CONCURRENCY: String(workers),
      UPSTREAM_CONCURRENCY: String(BURST * 2), QUEUE_MAX_WAITING: String(BURST * 2),
      LOGIN_RATE_LIMIT_PER_IP: '100000', LOGIN_RATE_LIMIT_PER_USER: '100000', LOGIN_DELAY_MS: '0', ESTIMATE_RATE_LIMIT_PER_USER: '100000',
    }, (l) => (l.msg === 'tokenchat listening' ? String(l.url) : undefined));
    procs.push(app);

    // The users, made in the database directly (one password hash for all of them), then signed in.
    const store = openStore({ dataDir, databaseUrl: undefined, databasePoolSize: 1, sessionIdleMs: 3_600_000 });
    const password = 'burst bench password';
    const hash = await new PasswordHasher(1, 1).hash(password);
    const hasher = { hash: async () => hash } as unknown as PasswordHasher;
    const names = Array.from({ length: TURN_BATCH + BURST }, (_, i) => `burst${i}`);
    const ids: number[] = [];
    for (const username of names) ids.push((await createUser(store, hasher, { username, password, role: 'user' }, { signupBonus: 10_000_000 })).id);
    const users: User[] = [];
    let signing = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (signing < names.length) {
        const i = signing++;
        const client = new Client(app.base);
        users[i] = { client, csrf: await client.signIn(names[i]!, password) };
      }
    }));

    // Ten turns each, then the batch once through each server (cold; with one process), WARM_TURNS
    // turns each, then the batch again. The burst and the probes below run after the warm-up too.
    await Promise.all(users.slice(0, 10).map((u) => pageTurn(u)));
    await Promise.all(Array.from({ length: 10 }, () => bareTurn(bare.base)));
    const bareCold = workers === 1 ? await cpuPerTurn(bare, TURN_BATCH, BATCH_PARALLEL, () => bareTurn(bare.base)) : NaN;
    const appCold = workers === 1 ? await cpuPerTurn(app, TURN_BATCH, BATCH_PARALLEL, (i) => pageTurn(users[i]!)) : NaN;
    await inLanes(WARM_TURNS, WARM_PARALLEL, () => bareTurn(bare.base));
    await inLanes(WARM_TURNS, WARM_PARALLEL, (lane) => pageTurn(users[lane]!));
    // Two rounds each, alternately; the lower of each is kept (this machine's neighbours come and go).
    const bareRuns: number[] = [];
    const appRuns: number[] = [];
    for (let round = 0; round < 2; round++) {
      bareRuns.push(await cpuPerTurn(bare, TURN_BATCH, BATCH_PARALLEL, () => bareTurn(bare.base)));
      appRuns.push(await cpuPerTurn(app, TURN_BATCH, BATCH_PARALLEL, (i) => pageTurn(users[i]!)));
    }
    const bareCpu = Math.min(...bareRuns);
    const appCpu = Math.min(...appRuns);
    // BURST_ONLY=cpu (with BURST_PROFILE): the batch of turns again and nothing else, for a profile of turns alone.
    if (process.env.BURST_ONLY === 'cpu') {
      for (let round = 0; round < 3; round++) await cpuPerTurn(app, TURN_BATCH, BATCH_PARALLEL, (i) => pageTurn(users[i]!));
      return { turn_cpu_ms: round2(appCpu), bare_turn_cpu_ms: round2(bareCpu) };
    }

    // Idle: /healthz and a conversation page, one after another.
    const watcher = users[0]!.client;
    const conversation = (await store.read(listConversations, ids[0]!, ''))[0]!;
    const idleHealth = await probe(app.base, '/healthz', undefined, 100);
    const idlePage = await probe(app.base, `/c/${conversation.id}`, watcher, 100);

    // The burst: BURST users at once, the probes running meanwhile.
    const burstUsers = users.slice(TURN_BATCH);
    const burst = Promise.all(burstUsers.map((u) => pageTurn(u)));
    const [firsts, burstHealth, burstPage] = await Promise.all([burst, probe(app.base, '/healthz', undefined, burst), probe(app.base, `/c/${conversation.id}`, watcher, burst)]);
    const bareFirsts = await Promise.all(Array.from({ length: BURST }, () => bareTurn(bare.base)));

    // Nothing of the metering changed under load: every turn charged what the first one was.
    const charges = new Set<number>();
    for (const id of ids) {
      for (const c of await store.read(listConversations, id, '')) {
        for (const m of await store.read(messagesOf, c.id)) if (m.role === 'assistant') charges.add(m.status === 'done' ? (m.charge ?? -1) : -1);
      }
    }
    await store.close();
    if (charges.size !== 1 || charges.has(-1)) throw new Error(`burst bench: turns were charged differently under load: ${[...charges].join(', ')}`);
    if (workers > 1) {
      return {
        [`burst_200_first_token_p50_${workers}w_ms`]: round2(percentile(firsts.sort((a, b) => a - b), 50)), [`burst_200_first_token_p99_${workers}w_ms`]: p99(firsts),
        [`burst_first_token_ratio_${workers}w`]: round2(percentile(firsts, 99) / percentile(bareFirsts.sort((a, b) => a - b), 99)),
        [`burst_200_healthz_p99_${workers}w_ms`]: p99(burstHealth),
      };
    }

    return {
      turn_cpu_ms: round2(appCpu), bare_turn_cpu_ms: round2(bareCpu), turn_cpu_ratio: round2(appCpu / bareCpu),
      turn_cpu_cold_ms: round2(appCold), bare_turn_cpu_cold_ms: round2(bareCold),
      burst_200_first_token_p50_ms: round2(percentile(firsts.sort((a, b) => a - b), 50)), burst_200_first_token_p99_ms: p99(firsts),
      bare_burst_200_first_token_p99_ms: p99(bareFirsts.sort((a, b) => a - b)), burst_first_token_ratio: round2(percentile(firsts, 99) / percentile(bareFirsts, 99)),
      idle_healthz_p99_ms: p99(idleHealth), burst_200_healthz_p99_ms: p99(burstHealth),
      idle_page_p99_ms: p99(idlePage), burst_200_page_p99_ms: p99(burstPage),
    };
  } finally {
    await stopAll(procs);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  benchBurst().then((figures) => console.log(JSON.stringify(figures, null, 1)), (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
