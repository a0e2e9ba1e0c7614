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
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createKey, generateKey } from '../accounts/api-keys';
import { PasswordHasher } from '../accounts/passwords';
import { createUser } from '../accounts/users';
import { loadConfig } from '../config';
import { createLogger } from '../log';
import { startServer } from '../server';
import { bareProxy, instantUpstream } from './floor';
import { round2 } from './http-client';
import { bearer, load, overheads } from './v1-client';

function listen(server: http.Server): Promise<http.Server> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const portOf = (server: http.Server) => (server.address() as AddressInfo).port;

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

export async function benchRelay(): Promise<Record<string, number>> {
  const upstream = await listen(instantUpstream());
  const bare = await listen(bareProxy(portOf(upstream)));
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
