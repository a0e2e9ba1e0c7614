// What a chunk of a long answer costs, for `npm run bench`: STREAMS page turns at once, each a
// markdown answer of CHUNKS pieces (paragraphs, lists, code, tables, math), the model API here
// sending every stream's next piece on one tick, GAP_MS apart, so the streams go in step. The
// app's CPU (all its threads, /proc schedstat, nanoseconds) is read as the pieces of a window go
// out: turn_cpu_per_chunk_short_us around piece 20 (pieces 0-39), turn_cpu_per_chunk_long_us
// around piece 2,000 (1,980-2,019). Goal: long <= 1.5x short (the cost does not grow with the answer).
// The turns start SPREAD_MS apart, so their quarter-second renders fall at different moments of a window.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { PasswordHasher } from '../accounts/passwords';
import { createUser } from '../accounts/users';
import { listConversations, messagesOf } from '../chat/conversations';
import { openStore } from '../storage';
import { start, type Proc } from './processes';
import { Client, round2 } from './http-client';

const STREAMS = 8;
const CHUNKS = 2_040;
const GAP_MS = 8;
const WARM_CHUNKS = 1_000;
const WARM_GAP_MS = 2;
const SPREAD_MS = 70;
const SHORT: [number, number] = [0, 40];
const LONG: [number, number] = [1_980, 2_020];
const CLI = path.join(__dirname, '..', 'cli', 'main.js');

// What the model writes, again and again, cut into pieces of PIECE characters: a fence and a `$$`
// block are open across many pieces, and text that looks like HTML must stay text.
const SOURCE = [
  'Here is how the **ledger** keeps a balance: every change is a row, and `balance` is their sum.\n\n',
  '1. The prompt is counted.\n2. The balance is reserved, $n \\cdot r$ tokens.\n3. The answer streams.\n\n',
  '```ts\nconst total = prompt + completion; // <b>not bold</b>\nexport function price(n: number) {\n  return Math.ceil(n * 1.5);\n}\n```\n\n',
  '| model | rate |\n| --- | ---: |\n| demo | 1 |\n| big | 3 |\n\n',
  '$$\n\\sum_{i=1}^{n} t_i \\le h\n$$\n\n',
  '- a <script>alert(1)</script> item\n- and [a link](https://example.com/docs) in another\n\n',
].join('');
const PIECE = 6;
const piece = (i: number) => {
  const at = (i * PIECE) % SOURCE.length;
  return (SOURCE + SOURCE).slice(at, at + PIECE);
};
const ANSWER = Array.from({ length: CHUNKS }, (_, i) => piece(i)).join('');

/** CPU time (ns) of all of a process's threads. */
function cpuNs(pid: number): number {
  let total = 0;
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // a thread that ended meanwhile
    }
  }
  return total;
}

/**
 * The model API: waits until STREAMS requests are open, then sends piece i of every stream on tick
 * i, calling `tick(i)` first (the window's CPU reads), and ends them with the usage. The first
 * round is WARM_CHUNKS long, faster (a fresh process compiles its code during its first turns), the next CHUNKS.
 */
function lockstepUpstream(tick: (i: number) => void): Promise<http.Server> {
  let open: http.ServerResponse[] = [];
  let round = 0;
  const chunk = (choices: unknown[], extra = {}) => `data: ${JSON.stringify({ id: 'long', object: 'chat.completion.chunk', created: 0, model: 'gpt-4o-mini', choices, ...extra })}\n\n`;
  const run = (streams: http.ServerResponse[], chunks: number, measured: boolean) => {
    let i = 0;
    const timer = setInterval(() => {
      if (measured) tick(i);
      for (const res of streams) {
        if (i < chunks) res.write(chunk([{ index: 0, delta: { content: piece(i) }, finish_reason: null }]));
        else res.end(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]) + chunk([], { usage: { prompt_tokens: 20, completion_tokens: chunks } }) + 'data: [DONE]\n\n');
      }
      if (i++ === chunks) clearInterval(timer);
    }, measured ? GAP_MS : WARM_GAP_MS);
  };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]));
      if (open.push(res) < STREAMS) return;
      run(open, round === 0 ? WARM_CHUNKS : CHUNKS, round++ > 0);
      open = [];
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function readAll(res: Response): Promise<void> {
  if (res.status !== 200) throw new Error(`long answer bench: a turn answered ${res.status}`);
  for await (const _ of res.body as unknown as AsyncIterable<Uint8Array>); // read to the end
}

export async function benchLongAnswer(): Promise<Record<string, number>> {
  const dataDir = fs.mkdtempSync('/tmp/tokenchat-bench-long-');
  let app: Proc | undefined;
  const reads = new Map<number, number>();
  const upstream = await lockstepUpstream((i) => {
    if (app && i % 20 === 0) reads.set(i, cpuNs(app.child.pid!)); // the windows' edges, and every 40th for LONG_WINDOWS
  });
  try {
    // BURST_PROFILE=<dir>: the app writes a CPU profile there when it stops.
    const profile = process.env.BURST_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BURST_PROFILE}`] : [];
    app = await start([...profile, CLI, 'serve'], {
      ...process.env, NODE_ENV: 'production', PORT: '0', DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'info', MODELS_FILE: '', WEB_CONCURRENCY: '1',
      OPENAI_API_KEY: 'sk-bench', OPENAI_BASE_URL: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`,
      LOGIN_RATE_LIMIT_PER_IP: '100000', LOGIN_RATE_LIMIT_PER_USER: '100000', LOGIN_DELAY_MS: '0',
    }, (l) => (l.msg === 'tokenchat listening' ? String(l.url) : undefined));
    const store = openStore({ dataDir, databaseUrl: undefined, databasePoolSize: 1, sessionIdleMs: 3_600_000 });
    const password = 'long answer bench password';
    const hash = await new PasswordHasher(1, 1).hash(password);
    const hasher = { hash: async () => hash } as unknown as PasswordHasher;
    const ids: number[] = [];
    const users: Array<{ client: Client; csrf: string }> = [];
    for (let s = 0; s < STREAMS; s++) {
      ids.push((await createUser(store, hasher, { username: `long${s}`, password, role: 'user' }, { signupBonus: 10_000_000 })).id);
      const client = new Client(app.base);
      users.push({ client, csrf: await client.signIn(`long${s}`, password) });
    }
    for (let round = 0; round < 2; round++) {
      const turns: Promise<void>[] = [];
      for (const [s, { client, csrf }] of users.entries()) {
        if (s > 0) await new Promise((r) => setTimeout(r, SPREAD_MS));
        turns.push(client.form('/send', { _csrf: csrf, turn_key: `long-turn-${round}-${s}`, message: 'Explain the ledger at length.', model: 'gpt-4o-mini', max_tokens: '100000' }, {
          'HX-Request': 'true', Accept: 'text/html, text/event-stream',
        }).then(readAll));
      }
      await Promise.all(turns);
    }
    // Every long answer whole: what the page was sent is what was kept.
    for (const id of ids) {
      const kept: string[] = [];
      for (const c of await store.read(listConversations, id, '')) {
        for (const m of await store.read(messagesOf, c.id)) if (m.role === 'assistant') kept.push(`${m.status} ${m.error ?? ''} ${m.content === ANSWER ? 'whole' : m.content.length}`);
      }
      if (!kept.some((k) => k.endsWith(' whole'))) throw new Error(`long answer bench: an answer was not kept whole (${kept.join('; ')} of ${ANSWER.length})`);
    }
    await store.close();
    const perChunk = ([from, to]: [number, number]) => (reads.get(to)! - reads.get(from)!) / 1000 / ((to - from) * STREAMS);
    // LONG_WINDOWS=1: the CPU per chunk of every window of 40 chunks, to see where it grows.
    if (process.env.LONG_WINDOWS) console.error(Array.from({ length: CHUNKS / 40 }, (_, w) => `${w * 40}:${Math.round(perChunk([w * 40, w * 40 + 40]))}`).join(' '));
    const short = perChunk(SHORT);
    const long = perChunk(LONG);
    return { turn_cpu_per_chunk_short_us: round2(short), turn_cpu_per_chunk_long_us: round2(long), turn_cpu_per_chunk_long_ratio: round2(long / short) };
  } finally {
    app?.child.kill('SIGTERM');
    if (app && app.child.exitCode === null) await new Promise((r) => app!.child.once('exit', r));
    upstream.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  benchLongAnswer().then((figures) => console.log(JSON.stringify(figures, null, 1)), (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
