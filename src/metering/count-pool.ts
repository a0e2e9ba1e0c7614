// Long texts are counted on worker threads, never on the event loop that serves every user.
//
// Counting in 5 ms slices keeps one count from holding the loop, but not many: 30 estimates of
// 100,000 characters from one user, interleaved slice by slice, made another user's turn wait
// behind all of them (issue 30: 62-127x slower). Here such a text costs the loop one message each
// way. A job is a whole text, taken first come, first served: each caller admits a bounded number
// per user before counting (one estimate at a time, TURNS_PER_USER turns, API_IN_FLIGHT_PER_USER
// calls), which bounds both the queue and how far one user can push another's count back.
// If a worker cannot be started or dies, the text is counted on the loop in slices, as before.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { EncodingName } from './encodings';

/** Threads counting at once: every core but the event loop's, at least one, at most four. */
const SIZE = Math.max(1, Math.min(4, os.availableParallelism() - 1));

interface Job {
  text: string;
  encoding: EncodingName;
  done: (tokens: number | undefined) => void;
}

/** A worker's answer: ready once its encodings are made, then one count per job. */
export type WorkerMessage = { ready: true } | { tokens: number };

// Run from the TypeScript sources (ts-jest), there is no count-worker.js: the worker compiles the
// sources it requires with typescript's transpileModule (a dev dependency, present there).
const FROM_SOURCES = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const ts = require(workerData.typescript);
const options = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true };
require.extensions['.ts'] = (module, file) =>
  module._compile(ts.transpileModule(fs.readFileSync(file, 'utf8'), { compilerOptions: options, fileName: file }).outputText, file);
require(workerData.entry);
`;

/** How to start a worker thread from `<dir>/<name>.js`, or from its TypeScript source under ts-jest (attachments/extract.ts starts one too). */
export function workerEntry(dir = __dirname, name = 'count-worker'): [string, WorkerOptions] | undefined {
  const compiled = path.join(dir, `${name}.js`);
  if (fs.existsSync(compiled)) return [compiled, {}];
  const entry = path.join(dir, `${name}.ts`);
  try {
    return fs.existsSync(entry) ? [FROM_SOURCES, { eval: true, workerData: { entry, typescript: require.resolve('typescript') } }] : undefined;
  } catch {
    return undefined; // no typescript to compile the sources with
  }
}

class CountPool {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Job>();
  private readonly waiting: Job[] = [];
  /** Set when a worker failed before it was ready: the rest is counted on the loop. */
  private broken = false;

  /** The count, or undefined when no worker could do it (the caller counts it itself). */
  count(text: string, encoding: EncodingName): Promise<number | undefined> {
    if (this.broken) return Promise.resolve(undefined);
    return new Promise((done) => {
      this.waiting.push({ text, encoding, done });
      this.dispatch();
    });
  }

  /** Ends every worker (tests, shutdown); a later count starts new ones. */
  async stop(): Promise<void> {
    const workers = [...this.idle, ...this.busy.keys()];
    this.idle.length = 0;
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private dispatch(): void {
    while (this.waiting.length > 0) {
      const worker = this.idle.pop() ?? (this.idle.length + this.busy.size < SIZE ? this.spawn() : undefined);
      if (!worker) return;
      const job = this.waiting.shift()!;
      this.busy.set(worker, job);
      worker.ref(); // a count in flight keeps the process alive (the CLI's), an idle worker does not
      worker.postMessage({ text: job.text, encoding: job.encoding });
    }
  }

  private spawn(): Worker | undefined {
    const entry = workerEntry();
    if (!entry) return this.fail();
    let ready = false;
    let gone = false;
    const worker = new Worker(entry[0], entry[1]);
    worker.on('message', (message: WorkerMessage) => {
      if ('ready' in message) return void (ready = true);
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      worker.unref();
      this.idle.push(worker);
      job?.done(message.tokens);
      this.dispatch();
    });
    const lost = () => {
      if (gone) return; // 'error' is followed by 'exit'
      gone = true;
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      const at = this.idle.indexOf(worker);
      if (at >= 0) this.idle.splice(at, 1);
      job?.done(undefined);
      if (!ready) this.fail();
      this.dispatch(); // a worker that died after it was ready (out of memory) is replaced
    };
    worker.once('error', lost);
    worker.once('exit', lost);
    return worker;
  }

  private fail(): undefined {
    this.broken = true;
    for (const job of this.waiting.splice(0)) job.done(undefined);
    return undefined;
  }
}

const pool = new CountPool();

export const countInWorker = (text: string, encoding: EncodingName) => pool.count(text, encoding);
export const stopCountWorkers = () => pool.stop();
