// The /v1 calls of the benches (relay.ts, peer.ts): one timed call, calls interleaved across
// servers round by round, and load from autocannon in a process of its own.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { percentile, round2 } from './http-client';

export const ROUNDS = 1000;
const WARMUP = 30;
const BODY = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello in five words.' }], max_tokens: 20 };

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
  if (res.status !== 200) throw new Error(`bench: ${target.base} answered ${res.status}: ${await res.text()}`);
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

const run = promisify(execFile);

/** Non-streamed calls under autocannon in its own process, 32 connections for 5 s: calls per second, and how many in all. */
export async function load(target: Target): Promise<{ rps: number; calls: number }> {
  const bin = path.join(path.dirname(require.resolve('autocannon/package.json')), 'autocannon.js');
  const headers = Object.entries({ 'content-type': 'application/json', ...target.headers }).flatMap(([name, value]) => ['-H', `${name}=${value}`]);
  const { stdout } = await run(process.execPath, [bin, '-c', '32', '-d', '5', '-m', 'POST', ...headers, '-b', JSON.stringify(BODY), '-j', `${target.base}/v1/chat/completions`], { maxBuffer: 16 << 20 });
  const result = JSON.parse(stdout) as { requests: { average: number; total: number }; non2xx: number; errors: number };
  if (result.non2xx || result.errors) throw new Error(`bench: ${target.base}: ${result.non2xx} non-2xx answers and ${result.errors} errors under load`);
  return { rps: Math.round(result.requests.average), calls: result.requests.total };
}
