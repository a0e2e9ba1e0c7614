// `/v1` beside a peer gateway, for the goal issue 29 set ("below Portkey's"): tokenchat, Portkey's
// open-source AI gateway and the bare Node proxy of the other benches, each its own process, against
// one model API answering at once (floor.ts). Not part of `npm run bench`: Portkey is no dependency
// of tokenchat. Install it apart and name its start script:
//
//   npm install --prefix /tmp/portkey @portkey-ai/gateway@1.15.2
//   PORTKEY_START=/tmp/portkey/node_modules/@portkey-ai/gateway/build/start-server.js npm run bench:peer
//
// Figures: each server's overhead over calling the model API directly (non-streamed, p50 and p99,
// interleaved call by call as relay.ts does), its CPU per call over those sequential calls, and
// non-streamed calls per second under autocannon with the CPU per call under that load, twice
// each, alternately. Every server first takes PEER_WARM_CALLS calls (default 4,000): V8 optimises
// a fresh process's code over its first thousands of calls (BENCHMARKS.md, 2026-12-07 15:00).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createKey, generateKey } from '../accounts/api-keys';
import { PasswordHasher } from '../accounts/passwords';
import { createUser } from '../accounts/users';
import { openStore } from '../storage';
import { cpuMs, floorPair, inLanes, start, stopAll, type Proc } from './processes';
import { round2 } from './http-client';
import { bearer, load, overheads, ROUNDS, timed, type Target } from './v1-client';

const WARM_CALLS = Number(process.env.PEER_WARM_CALLS ?? 4_000);
const WARM_PARALLEL = 8;
const CLI = path.join(__dirname, '..', 'cli', 'main.js');

/** A free port on loopback (Portkey takes its port as an argument). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Waits until something accepts connections on `port` (at most 20 s). */
async function listening(port: number): Promise<void> {
  for (let tries = 0; tries < 200; tries++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(true)).on('error', () => resolve(false));
      socket.setTimeout(100, () => resolve(false));
      setTimeout(() => socket.destroy(), 150).unref();
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`peer bench: nothing listens on port ${port}`);
}

/** tokenchat serving /v1 from a fresh data directory, and a key made in its database. */
async function tokenchat(upstream: string, dataDir: string): Promise<{ proc: Proc; key: string }> {
  const proc = await start([CLI, 'serve'], {
    ...process.env, NODE_ENV: 'production', PORT: '0', DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'info', MODELS_FILE: '',
    OPENAI_API_KEY: 'sk-bench', OPENAI_BASE_URL: `${upstream}/v1`,
    API_IN_FLIGHT_PER_USER: '1000', API_IN_FLIGHT_PER_KEY: '1000', UPSTREAM_CONCURRENCY: '256', QUEUE_MAX_WAITING: '10000',
  }, (l) => (l.msg === 'tokenchat listening' ? String(l.url) : undefined));
  // The server made the schema; the user and key are written beside it (several processes share a data directory).
  const store = openStore({ dataDir, databaseUrl: undefined, databasePoolSize: 1, sessionIdleMs: 3_600_000 });
  const user = await createUser(store, new PasswordHasher(1, 10), { username: 'peer', password: 'peer bench password', role: 'user' }, { signupBonus: 1_000_000_000 });
  const { key } = await store.write(createKey, user.id, { name: 'bench', models: null, perDay: null, total: null, expiresAt: null }, generateKey());
  await store.close();
  return { proc, key };
}

export async function benchPeer(portkeyStart: string): Promise<Record<string, number>> {
  const dataDir = fs.mkdtempSync('/tmp/tokenchat-bench-peer-');
  const procs: Proc[] = [];
  try {
    const { upstream, bare } = await floorPair('instant', procs);
    const app = await tokenchat(upstream.base, dataDir);
    procs.push(app.proc);
    const port = await freePort();
    const portkey: Proc = { child: spawn(process.execPath, [portkeyStart, `--port=${port}`], { stdio: 'ignore' }), base: `http://127.0.0.1:${port}` };
    procs.push(portkey);
    await listening(port);

    const servers = {
      bare: { proc: bare, target: { base: bare.base } },
      tokenchat: { proc: app.proc, target: { base: app.proc.base, headers: bearer(app.key) } },
      portkey: { proc: portkey, target: { base: portkey.base, headers: { authorization: 'Bearer sk-bench', 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${upstream.base}/v1` } } },
    };
    type Name = keyof typeof servers;
    const names = Object.keys(servers) as Name[];
    const cpuOf = () => Object.fromEntries(names.map((n) => [n, cpuMs(servers[n].proc.child.pid!)])) as Record<Name, number>;
    for (const n of names) await inLanes(WARM_CALLS, WARM_PARALLEL, () => timed(servers[n].target, false));

    let before = cpuOf();
    const over = await overheads(upstream.base, Object.fromEntries(names.map((n) => [n, servers[n].target])) as Record<Name, Target>, false, () => (before = cpuOf()));
    const after = cpuOf();
    const figures: Record<string, number> = {};
    for (const n of names) {
      figures[`${n}_overhead_p50_ms`] = over[n].p50;
      figures[`${n}_overhead_p99_ms`] = over[n].p99;
      figures[`${n}_sequential_cpu_per_call_ms`] = round2((after[n] - before[n]) / ROUNDS);
    }
    for (let round = 1; round <= 2; round++) {
      for (const n of names) {
        const cpu = cpuMs(servers[n].proc.child.pid!);
        const { rps, calls } = await load(servers[n].target);
        figures[`${n}_rps_${round}`] = rps;
        figures[`${n}_load_cpu_per_call_ms_${round}`] = round2((cpuMs(servers[n].proc.child.pid!) - cpu) / calls);
      }
    }
    return figures;
  } finally {
    await stopAll(procs);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const portkeyStart = process.env.PORTKEY_START;
  if (!portkeyStart || !fs.existsSync(portkeyStart)) {
    console.error('peer bench: set PORTKEY_START to the path of @portkey-ai/gateway/build/start-server.js (see the top of src/bench/peer.ts)');
    process.exit(2);
  }
  benchPeer(portkeyStart).then((figures) => console.log(JSON.stringify(figures, null, 1)), (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
