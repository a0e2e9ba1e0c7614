// The benches' own processes: each server measured runs as a process of its own, so its CPU can be
// read apart from the load's (burst.ts, flood.ts, long-answer.ts, peer.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

const FLOOR = path.join(__dirname, 'floor.js');

export interface Proc {
  child: ChildProcess;
  base: string;
}

/** Starts a process and waits for the line that says where it listens; the rest of its output is read and dropped. */
export function start(args: string[], env: NodeJS.ProcessEnv, where: (line: Record<string, unknown>) => string | undefined): Promise<Proc> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      try {
        const base = where(JSON.parse(line) as Record<string, unknown>);
        if (base) resolve({ child, base });
      } catch {
        // not a JSON line
      }
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code} before listening`)));
  });
}

/** CPU time (user + system, ms) a process has used, all its threads, from /proc (clock ticks of 10 ms). */
export function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** floor.ts's first line, `{"port":1234}`: where its server listens. */
const portLine = (line: Record<string, unknown>) => (typeof line.port === 'number' ? `http://127.0.0.1:${line.port}` : undefined);

/** floor.ts's model API (`upstream` streams, `instant` answers at once) and the bare proxy in front of it, each its own process, added to `procs`. */
export async function floorPair(role: 'upstream' | 'instant', procs: Proc[]): Promise<{ upstream: Proc; bare: Proc }> {
  const upstream = await start([FLOOR, role], process.env, portLine);
  procs.push(upstream);
  const bare = await start([FLOOR, 'bare', new URL(upstream.base).port], process.env, portLine);
  procs.push(bare);
  return { upstream, bare };
}

/** Stops the processes (SIGTERM) and waits until each has exited. */
export async function stopAll(procs: Proc[]): Promise<void> {
  for (const p of procs) p.child.kill('SIGTERM');
  await Promise.all(procs.map((p) => new Promise((r) => (p.child.exitCode !== null || p.child.signalCode !== null ? r(null) : p.child.once('exit', r)))));
}

/** `count` calls of `call`, `parallel` at a time, each of the `parallel` lanes passing its own number (a user each, say). */
export async function inLanes(count: number, parallel: number, call: (lane: number) => Promise<unknown>): Promise<void> {
  let left = count;
  await Promise.all(Array.from({ length: parallel }, async (_, lane) => {
    while (left-- > 0) await call(lane);
  }));
}
