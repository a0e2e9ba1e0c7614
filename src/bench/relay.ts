// /v1 relay figures for `npm run bench`: what tokenchat adds over calling the model API directly,
// beside what a bare Node pass-through proxy (forward the body, pipe the answer) adds, measured in
// the same run, interleaved request by request, against a local model API that answers at once.
// - relay_overhead_p50/p99_ms and bare_overhead_p50/p99_ms: non-streamed, the whole answer.
// - relay_ttft_overhead_p50/p99_ms and bare_ttft_overhead_p50/p99_ms: streamed, to the first token.
// - relay_rps and bare_rps: non-streamed requests per second under load from a second process
//   (autocannon, 32 connections, 5 s). Budget (DESIGN.md): overhead p50 <= 3x the bare proxy's; rps >= 0.5x.
// - relay_2p_overhead_p50/p99_ms: the same relay on a server whose model has two providers, the
//   first answering (the second never asked); providers_overhead_ratio_p50/p99 is it over the
//   one-provider relay's. Budget: <= 1.1.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { createKey, generateKey } from '../accounts/api-keys';
import { PasswordHasher } from '../accounts/passwords';
import { createUser } from '../accounts/users';
import { loadConfig } from '../config';
import { createLogger } from '../log';
import { startServer } from '../server';
import { instantUpstream } from './floor';
import { percentile, round2 } from './http-client';

export const ROUNDS = 1000;
const WARMUP = 30;
const BODY = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello in five words.' }], max_tokens: 20 };

/** The floor: a few lines that forward the request and pipe the answer back. */
function bareProxy(upstreamPort: number): Promise<http.Server> {
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const out = http.request({ host: '127.0.0.1', port: upstreamPort, path: req.url, method: req.method, headers: req.headers, agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  return listen(server);
}

function listen(server: http.Server): Promise<http.Server> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const portOf = (server: http.Server) => (server.address() as AddressInfo).port;

/** Where calls go: a server's base URL and the headers it needs beside the body's (a key, a gateway's routing). */
export interface Target {
  base: string;
  headers?: Record<string, string>;
}

/** The headers of a call with a tokenchat key. */
export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** One call's time: the whole answer, or (streamed) until the first content arrives. */
export async function timed(target: Target, stream: boolean): Promise<number> {
  const start = performance.now();
  const res = await fetch(`${target.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...target.headers },
    body: JSON.stringify({ ...BODY, stream }),
  });
  if (res.status !== 200) throw new Error(`relay bench: ${target.base} answered ${res.status}: ${await res.text()}`);
  if (!stream) {
    await res.arrayBuffer();
    return performance.now() - start;
  }
  const decoder = new TextDecoder();
  let seen = '';
  let first = 0;
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    seen += decoder.decode(bytes, { stream: true });
    if (!first && seen.includes('"content":"Hello"')) first = performance.now() - start;
  }
  return first;
}

/** Overheads over the direct call, paired round by round (the calls of a round run back to back); `measuring` runs when the warm-up rounds are done. */
export async function overheads<K extends string>(direct: string, targets: Record<K, Target>, stream: boolean, measuring = () => {}): Promise<Record<K, { p50: number; p99: number }>> {
  const names = Object.keys(targets) as K[];
  const over = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (let i = 0; i < WARMUP + ROUNDS; i++) {
    if (i === WARMUP) measuring();
    const d = await timed({ base: direct }, stream);
    // Each round starts with the next target, so none is always measured first (or last).
    for (const name of [...names.slice(i % names.length), ...names.slice(0, i % names.length)]) {
      const t = await timed(targets[name], stream);
      if (i >= WARMUP) over[name].push(t - d);
    }
  }
  const stats = (xs: number[]) => {
    xs.sort((a, b) => a - b);
    return { p50: round2(percentile(xs, 50)), p99: round2(percentile(xs, 99)) };
  };
  return Object.fromEntries(names.map((n) => [n, stats(over[n])])) as Record<K, { p50: number; p99: number }>;
}

/** A models file: the shipped one, with gpt-4o-mini served by two providers, `first` then `second`. */
function twoProviderModels(dir: string, first: string, second: string): string {
  const shipped = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'models.json'), 'utf8')) as { models: Array<Record<string, unknown>> };
  const file = path.join(dir, 'models-two-providers.json');
  fs.writeFileSync(file, JSON.stringify({
    ...shipped,
    providers: [{ id: 'first', base_url: first, api_key_env: 'FIRST_KEY' }, { id: 'second', base_url: second, api_key_env: 'SECOND_KEY' }],
    models: shipped.models.map((m) => (m.id === 'gpt-4o-mini' ? { ...m, providers: ['first', 'second'] } : m)),
  }));
  return file;
}

const run = promisify(execFile);

/** Non-streamed calls under autocannon in its own process, 32 connections for 5 s: calls per second, and how many in all. */
export async function load(target: Target): Promise<{ rps: number; calls: number }> {
  const bin = path.join(path.dirname(require.resolve('autocannon/package.json')), 'autocannon.js');
  const headers = Object.entries({ 'content-type': 'application/json', ...target.headers }).flatMap(([name, value]) => ['-H', `${name}=${value}`]);
  const { stdout } = await run(process.execPath, [bin, '-c', '32', '-d', '5', '-m', 'POST', ...headers, '-b', JSON.stringify(BODY), '-j', `${target.base}/v1/chat/completions`], { maxBuffer: 16 << 20 });
  const result = JSON.parse(stdout) as { requests: { average: number; total: number }; non2xx: number; errors: number };
  if (result.non2xx || result.errors) throw new Error(`relay bench: ${result.non2xx} non-2xx answers and ${result.errors} errors under load`);
  return { rps: Math.round(result.requests.average), calls: result.requests.total };
}

export async function benchRelay(): Promise<Record<string, number>> {
  const upstream = await listen(instantUpstream());
  const bare = await bareProxy(portOf(upstream));
  const dataDir = fs.mkdtempSync('/tmp/tokenchat-bench-relay-');
  const config = loadConfig({
    DATA_DIR: dataDir, PORT: '0', NODE_ENV: 'production', LOG_LEVEL: 'silent', SIGNUP_BONUS: '1000000000',
    OPENAI_API_KEY: 'sk-bench', OPENAI_BASE_URL: `http://127.0.0.1:${portOf(upstream)}/v1`,
    API_IN_FLIGHT_PER_USER: '1000', API_IN_FLIGHT_PER_KEY: '1000', UPSTREAM_CONCURRENCY: '256', QUEUE_MAX_WAITING: '10000',
  });
  const app = await startServer(config, createLogger('silent'));
  // The same server, but its model has two providers (the second would refuse: nothing listens there).
  const twoDir = fs.mkdtempSync('/tmp/tokenchat-bench-relay2-');
  const twoConfig = loadConfig({
    DATA_DIR: twoDir, PORT: '0', NODE_ENV: 'production', LOG_LEVEL: 'silent', SIGNUP_BONUS: '1000000000',
    MODELS_FILE: twoProviderModels(twoDir, `http://127.0.0.1:${portOf(upstream)}/v1`, 'http://127.0.0.1:9/v1'), FIRST_KEY: 'sk-first', SECOND_KEY: 'sk-second',
    OPENAI_API_KEY: 'sk-bench', OPENAI_BASE_URL: `http://127.0.0.1:${portOf(upstream)}/v1`, // the other models
    API_IN_FLIGHT_PER_USER: '1000', API_IN_FLIGHT_PER_KEY: '1000', UPSTREAM_CONCURRENCY: '256', QUEUE_MAX_WAITING: '10000',
  });
  const two = await startServer(twoConfig, createLogger('silent')).catch(async (err: unknown) => {
    await app.close();
    throw err;
  });
  try {
    const keyOn = async (server: typeof app) => {
      const user = await createUser(server.database, new PasswordHasher(1, 10), { username: 'relaybench', password: 'relay bench password', role: 'user' }, { signupBonus: config.signupBonus });
      return (await server.database.write(createKey, user.id, { name: 'bench', models: null, perDay: null, total: null, expiresAt: null }, generateKey())).key;
    };
    const key = await keyOn(app);
    const direct = `http://127.0.0.1:${portOf(upstream)}`;
    const viaBare = `http://127.0.0.1:${portOf(bare)}`;
    const targets = { bare: { base: viaBare }, relay: { base: app.url, headers: bearer(key) }, relay2: { base: two.url, headers: bearer(await keyOn(two)) } };
    const whole = await overheads(direct, targets, false);
    const first = await overheads(direct, targets, true);
    const bareRps = (await load({ base: viaBare })).rps;
    const relayRps = (await load(targets.relay)).rps;
    const ratio = (a: number, b: number) => round2(a / Math.max(b, 0.01));
    return {
      relay_overhead_p50_ms: whole.relay.p50, relay_overhead_p99_ms: whole.relay.p99,
      bare_overhead_p50_ms: whole.bare.p50, bare_overhead_p99_ms: whole.bare.p99,
      relay_ttft_overhead_p50_ms: first.relay.p50, relay_ttft_overhead_p99_ms: first.relay.p99,
      bare_ttft_overhead_p50_ms: first.bare.p50, bare_ttft_overhead_p99_ms: first.bare.p99,
      relay_rps: relayRps, bare_rps: bareRps,
      relay_2p_overhead_p50_ms: whole.relay2.p50, relay_2p_overhead_p99_ms: whole.relay2.p99,
      providers_overhead_ratio_p50: ratio(whole.relay2.p50, whole.relay.p50), providers_overhead_ratio_p99: ratio(whole.relay2.p99, whole.relay.p99),
    };
  } finally {
    await Promise.all([app.close(), two.close()]);
    fs.rmSync(twoDir, { recursive: true, force: true });
    bare.close();
    upstream.close();
    bare.closeAllConnections();
    upstream.closeAllConnections();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
