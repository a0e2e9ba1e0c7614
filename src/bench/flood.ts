// One user's flood against another user's turn, for `npm run bench` (issue 30, item 11). Another
// user's chat turn, timed to its first answer text, quiet and while one user sends, from 40
// connections at once:
// - estimate_200k: 40 prompt estimates of 200,000 characters (past what the composer takes),
// - estimate_100k: 40 estimates of 100,000 characters (the composer's most),
// - send_100k: 40 turns of 100,000 characters.
// Each flood is sent FLOOD_ROUNDS times, by a new user each time (a fresh minute of every limit),
// while the other user sends turns one after another until the flood is answered; before each,
// the other user sends two turns in quiet. Figures: the median turn quiet and during each flood,
// and flood_other_turn_ratio, the worst flood's median over quiet's (goal: <= 3). The app runs as
// its own process (the demo model, default limits), the flooding user as another (its sending is
// not this process's work), and this process is the other user. FLOOD_TEXT=cjk floods with CJK
// characters and no punctuation (the slowest to count, and 9 bytes a character in a form) instead
// of mixed English and Chinese chat text.
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { PasswordHasher } from '../accounts/passwords';
import { createUser } from '../accounts/users';
import { openStore } from '../storage';
import { start, type Proc } from './processes';
import { chatText } from './count';
import { Client, percentile, round2 } from './http-client';

const FLOOD = 40;
const KINDS = ['estimate_200k', 'estimate_100k', 'send_100k'];
const ROUNDS = Number(process.env.FLOOD_ROUNDS ?? 5);
/** Quiet turns before each flood. */
const QUIET_TURNS = 2;
const CLI = path.join(__dirname, '..', 'cli', 'main.js');
const PASSWORD = 'flood bench password';
const PROMPT = 'Explain in a few sentences what a token is.';
/** The demo model's first streamed piece. */
const FIRST = '**Demo';

let turns = 0;
const turnKey = () => `flood-turn-${process.pid}-${turns++}`;

/** A turn from the page (htmx, streamed): ms to its first answer text; read to its end. */
async function timedTurn(client: Client, csrf: string): Promise<number> {
  const since = performance.now();
  const res = await client.form('/send', { _csrf: csrf, turn_key: turnKey(), message: PROMPT }, { 'HX-Request': 'true', Accept: 'text/html, text/event-stream' });
  if (res.status !== 200) throw new Error(`flood bench: the other user's turn answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  const decoder = new TextDecoder();
  let first = 0;
  let tail = '';
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    const text = tail + decoder.decode(bytes, { stream: true });
    if (!first && text.includes(FIRST)) first = performance.now() - since;
    tail = text.slice(-16);
  }
  if (!first) throw new Error("flood bench: the other user's answer had no text");
  return first;
}

// ---- the flooding user, a process of its own -------------------------------------------------------

type ToFlooder = { prepare: { base: string; username: string; kind: string } } | { go: true };
type FromFlooder = { ready: true } | { answered: Record<number, number> };

function floodText(chars: number): string {
  if (process.env.FLOOD_TEXT === 'cjk') return Array.from({ length: chars }, (_, i) => String.fromCharCode(0x4e00 + ((i * 7919) % 20000))).join('');
  return chatText(chars * 4).slice(0, chars);
}

/** One POST on a connection of its own: the status. (fetch opens a host's connections one by one.) */
function post(url: URL, cookie: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers = { cookie, 'content-type': 'application/x-www-form-urlencoded', 'content-length': body.length, 'hx-request': 'true', accept: 'text/html, text/event-stream' };
    const req = http.request(url, { method: 'POST', agent: false, headers }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('error', reject);
    req.end(body);
  });
}

/** Signs in and encodes its FLOOD forms (before the clock starts), then sends them at once when told. */
function flooder(): void {
  let send: (() => Promise<Record<number, number>>) | undefined;
  // A failure ends this process, as an unhandled rejection would, and the bench sees it exit.
  process.on('message', (message: ToFlooder) => void answer(message).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  }));
  async function answer(message: ToFlooder): Promise<void> {
    if ('go' in message) {
      process.send!({ answered: await send!() } satisfies FromFlooder);
      return;
    }
    const { base, username, kind } = message.prepare;
    const client = new Client(base);
    const csrf = await client.signIn(username, PASSWORD);
    const cookie = client.cookieHeader();
    const [what, size] = kind.split('_') as ['estimate' | 'send', string];
    const form = Buffer.from(new URLSearchParams({ _csrf: csrf, message: floodText(Number.parseInt(size, 10) * 1000) }).toString());
    const bodies = Array.from({ length: FLOOD }, () => (what === 'send' ? Buffer.concat([Buffer.from(`turn_key=${turnKey()}&`), form]) : form));
    send = async () => {
      const answered: Record<number, number> = {};
      for (const status of await Promise.all(bodies.map((body) => post(new URL(`/${what}`, base), cookie, body)))) answered[status] = (answered[status] ?? 0) + 1;
      return answered;
    };
    process.send!({ ready: true } satisfies FromFlooder);
  }
}

function ask(child: ChildProcess, message: ToFlooder): Promise<FromFlooder> {
  return new Promise((resolve, reject) => {
    const exited = (code: number | null) => reject(new Error(`flood bench: the flooding process exited ${code}`));
    child.once('exit', exited);
    child.once('message', (answer: FromFlooder) => {
      child.off('exit', exited);
      resolve(answer);
    });
    child.send(message);
  });
}

// ---- the bench -------------------------------------------------------------------------------------

const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 50);

/** The other user's turns, one after another, from the flood's start until it is answered (one at least). */
async function turnsDuring(turn: () => Promise<number>, flood: Promise<unknown>): Promise<number[]> {
  let done = false;
  void flood.finally(() => (done = true));
  const times: number[] = [];
  do times.push(await turn());
  while (!done);
  await flood;
  return times;
}

export async function benchFlood(): Promise<Record<string, number>> {
  const dataDir = fs.mkdtempSync('/tmp/tokenchat-bench-flood-');
  let app: Proc | undefined;
  let child: ChildProcess | undefined;
  try {
    app = await start([CLI, 'serve'], {
      ...process.env, NODE_ENV: 'production', PORT: '0', DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'info', OPENAI_API_KEY: '', MODELS_FILE: '',
      LOGIN_RATE_LIMIT_PER_IP: '100000', LOGIN_RATE_LIMIT_PER_USER: '100000', LOGIN_DELAY_MS: '0',
      DEMO_DELAY_MS: '0', // a turn of a few ms: many of them in each flood
    }, (l) => (l.msg === 'tokenchat listening' ? String(l.url) : undefined));
    const store = openStore({ dataDir, databaseUrl: undefined, databasePoolSize: 1, sessionIdleMs: 3_600_000 });
    const hash = await new PasswordHasher(1, 1).hash(PASSWORD);
    const hasher = { hash: async () => hash } as unknown as PasswordHasher;
    const flooders = Array.from({ length: ROUNDS }, (_, round) => KINDS.map((kind) => ({ kind, round, username: `${kind}_${round}` }))).flat();
    for (const username of ['other', ...flooders.map((f) => f.username)]) {
      await createUser(store, hasher, { username, password: PASSWORD, role: 'user' }, { signupBonus: 100_000_000 });
    }
    await store.close();
    const client = new Client(app.base);
    const csrf = await client.signIn('other', PASSWORD);
    const turn = () => timedTurn(client, csrf);
    child = fork(__filename, ['flooder'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });

    for (let i = 0; i < 5; i++) await turn(); // warm up
    // Quiet turns between the floods, so that both are timed alongside whatever else this machine runs meanwhile.
    const quiet: number[] = [];
    const during = new Map<string, number[]>(KINDS.map((k) => [k, []]));
    for (const { kind, round, username } of flooders) {
      for (let i = 0; i < QUIET_TURNS; i++) quiet.push(await turn());
      await ask(child, { prepare: { base: app.base, username, kind } });
      const flood = ask(child, { go: true });
      during.get(kind)!.push(...(await turnsDuring(turn, flood)));
      if (process.env.FLOOD_VERBOSE) console.error(kind, round, JSON.stringify(await flood), during.get(kind)!.map(Math.round).join(' '));
    }
    const figures: Record<string, number> = { flood_quiet_turn_ms: round2(median(quiet)) };
    for (const kind of KINDS) figures[`flood_${kind}_turn_ms`] = round2(median(during.get(kind)!));
    figures.flood_other_turn_ratio = round2(Math.max(...KINDS.map((k) => median(during.get(k)!))) / median(quiet));
    return figures;
  } finally {
    child?.kill();
    app?.child.kill('SIGTERM');
    if (app && app.child.exitCode === null) await new Promise((r) => app!.child.once('exit', r));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module && process.argv[2] === 'flooder') flooder();
else if (require.main === module) {
  benchFlood().then((figures) => console.log(JSON.stringify(figures, null, 1)), (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
