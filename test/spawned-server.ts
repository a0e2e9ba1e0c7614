// The real server in a process of its own (dist/cli/main.js serve; `npm run build` first), for
// tests of what only a process shows: signals, exit, what it writes to stdout and stderr.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { openStore } from '../src/db';
import { dropSchema } from './db-under-test';
import { databaseEnv } from './helpers';

export const CLI = path.join(__dirname, '..', 'dist', 'cli', 'main.js');

/**
 * The database the CLI serves from: SQLite files in the data directory, or (on PostgreSQL) a schema
 * of its own, named to the server by DATABASE_SCHEMA. `open` reads it, also while the server runs.
 */
export function databaseFor(dataDir: string) {
  const where = databaseEnv();
  const env: Record<string, string> = { ...where.env, ...(where.schema ? { DATABASE_SCHEMA: where.schema } : {}) };
  const open = () => openStore({ dataDir, databaseUrl: where.env.DATABASE_URL, databasePoolSize: 2, sessionIdleMs: 60_000 }, where.schema);
  const drop = async () => {
    if (where.schema) await dropSchema(where.schema);
  };
  return { env, open, drop };
}

export interface Spawned {
  child: ChildProcess;
  port: number;
  url: string;
  /** stdout's lines, read until the server listens, and on unless `readStdout` was false. */
  logs: string[];
  stderr(): string;
  /** Resolves when the process exits: its code, and when (Date.now()). */
  exited: Promise<{ code: number | null; signal: string | null; at: number }>;
  /** With `readStdout: false`: what stdout holds that was never read, once the process has gone. */
  unread(): Promise<string>;
}

/**
 * Starts `tokenchat serve` on a free port. `readStdout: false` stops reading stdout once the server
 * listens: a log reader that stops reading, its pipe left open. `terminal`: stdout is a terminal
 * (util-linux's script gives the server a pseudo-terminal and copies it to the pipe read here).
 */
export function serve(dataDir: string, env: Record<string, string>, opts: { readStdout?: boolean; terminal?: boolean } = {}): Promise<Spawned> {
  const [command, args] = opts.terminal ? ['script', ['-qec', `exec node ${CLI} serve`, '/dev/null']] : ['node', [CLI, 'serve']];
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH!, DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: string | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  return new Promise((resolve, reject) => {
    let partial = '';
    let listening = false;
    const read = (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines.map((l) => l.replace(/\r$/, '')).filter(Boolean)) {
        logs.push(line);
        const at = listeningAt(line);
        if (at === undefined || listening) continue;
        listening = true;
        // Out of flowing mode, and kept out: with a 'readable' listener that reads nothing, Node
        // stops reading the pipe once its buffer is full, and does not resume it at exit.
        if (opts.readStdout === false) child.stdout!.off('data', read).on('readable', () => undefined);
        const port = Number(new URL(at).port);
        resolve({ child, port, url: `http://127.0.0.1:${port}`, logs, stderr: () => stderr, exited, unread: () => unread(child, partial) });
      }
    };
    child.stdout!.setEncoding('utf8').on('data', read);
    void exited.then(({ code }) => reject(new Error(`server exited early with ${code}: ${stderr}`)));
  });
}

/** Where a line says the server listens: its JSON 'tokenchat listening' line, or the first line a terminal shows. */
function listeningAt(line: string): string | undefined {
  const banner = /^tokenchat running on (\S+)/.exec(line);
  if (banner) return banner[1];
  if (!line.startsWith('{')) return undefined;
  const entry = JSON.parse(line) as { msg: string; url?: string };
  return entry.msg === 'tokenchat listening' ? entry.url : undefined;
}

/** SIGTERM, then the exit and how long after the signal it came; undefined (the process killed) if none came within `ms`. */
export async function terminate(srv: Spawned, ms: number): Promise<{ code: number | null; afterMs: number } | undefined> {
  const sent = Date.now();
  srv.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  const exit = await Promise.race([srv.exited, late]);
  clearTimeout(timer);
  if (!exit) srv.child.kill('SIGKILL');
  return exit && { code: exit.code, afterMs: exit.at - sent };
}

function unread(child: ChildProcess, partial: string): Promise<string> {
  const stdout = child.stdout!;
  return new Promise((resolve) => {
    let text = partial;
    const drain = () => {
      for (let chunk: string | null; (chunk = stdout.read() as string | null) !== null;) text += chunk;
    };
    stdout.on('readable', drain).once('end', () => resolve(text));
    drain();
  });
}
