// WEB_CONCURRENCY > 1: `tokenchat serve` becomes the primary of a node:cluster, and its workers,
// each a whole server (server.ts), share the port. The primary serves nothing: it applies the
// migrations once, starts the workers, starts another when one dies (giving up on a crash loop),
// passes SIGTERM, SIGINT and SIGHUP on, and writes the workers' log lines to stdout through its
// own bounded LogSink, so the lines of several processes never cut into one another (a pipe's
// writes past 4 KiB are not atomic) and a terminal's first line is still the address.
import cluster, { type Worker } from 'node:cluster';
import type { Config } from './config';
import { loadSessionSecret } from './http/sessions';
import type { Logger } from './log';
import { bannerLine, colorsWanted, prettyLine } from './log-format';
import type { LogSink } from './log-sink';
import { EXIT_MARGIN_MS, LOG_FLUSH_MS, processLog, runServer } from './server';
import { SETTLE_GRACE_MS } from './shutdown';
import { migrateStore, openStore } from './storage';

/** This many workers dying within CRASH_WINDOW_MS is a crash loop: the primary stops rather than start more. */
const CRASH_LIMIT = 5;
const CRASH_WINDOW_MS = 30_000;

/** How long the primary waits to replace a worker that died: at once the first time in the window, then this, doubling. */
const RESTART_BACKOFF_MS = 250;

/** The primary gives its workers this long past their own hard exit before it kills them. */
const PRIMARY_MARGIN_MS = 2000;

/** A worker's log line past this without a newline is passed on as it is (pino's lines all end in one). */
const LONGEST_LINE = 1024 * 1024;

/** What a worker tells its primary once it listens (server.ts). */
interface Listening {
  tokenchat: 'listening';
  url: string;
  demo: boolean;
  chatModels: string[];
}

/** `tokenchat serve`: this process serves, or (WEB_CONCURRENCY > 1) is the primary of workers that do. */
export function serve(config: Config): Promise<void> {
  return config.webConcurrency > 1 && cluster.isPrimary ? runPrimary(config) : runServer(config);
}

/** What the workers would otherwise race to do: the session secret's file and the migrations. */
async function prepare(config: Config, logger: Logger): Promise<void> {
  loadSessionSecret(config);
  const database = openStore(config);
  try {
    const applied = await migrateStore(database);
    if (applied.length) logger.info({ applied }, 'migrations applied');
  } finally {
    await database.close();
  }
}

/** Each complete line a worker writes, to the primary's sink (in words, when the primary's log is). */
function relayLines(worker: Worker, sink: LogSink, pretty: ((line: string) => string) | undefined): void {
  let tail = '';
  worker.process.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const text = tail + chunk;
    const end = text.length > LONGEST_LINE ? text.length : text.lastIndexOf('\n') + 1;
    tail = text.slice(end);
    for (const line of text.slice(0, end).split('\n')) if (line) sink.write(pretty ? pretty(`${line}\n`) : `${line}\n`);
  });
}

async function runPrimary(config: Config): Promise<void> {
  const count = config.webConcurrency;
  const { logger, sink, format, terminal, banner } = processLog(config);
  const pretty = format === 'pretty' ? prettyLine(colorsWanted(terminal)) : undefined;

  const workers = new Set<Worker>();
  const starting = new Set<Worker>();
  const restarts = new Set<NodeJS.Timeout>();
  let ready = false;
  let crashes: number[] = [];
  let forked = false;
  let stopping = false;
  let deadline = 0;
  let exitCode = 0;
  let failure: string | undefined;

  const finish = async () => {
    logger.info({ workers: count }, 'tokenchat stopped');
    await sink.flushWithin(Math.max(deadline - Date.now(), LOG_FLUSH_MS));
    if (failure) process.stderr.write(`tokenchat: ${failure}\n`);
    process.exit(exitCode);
  };
  const stop = (why: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    deadline = Date.now() + config.shutdownTimeoutMs;
    for (const timer of restarts) clearTimeout(timer);
    setTimeout(() => {
      logger.error({ workers: workers.size }, 'workers did not stop in time; killing them');
      for (const worker of workers) worker.process.kill('SIGKILL');
      process.exit(1);
    }, config.shutdownTimeoutMs + SETTLE_GRACE_MS + EXIT_MARGIN_MS + PRIMARY_MARGIN_MS).unref();
    logger.info({ signal: why }, 'shutting down');
    sink.lead(); // a start-up that failed: what it logged goes out
    for (const worker of workers) worker.process.kill('SIGTERM');
    if (forked && !workers.size) void finish();
  };
  const giveUp = (cause: string) => {
    failure = cause;
    logger.error(cause);
    stop('worker failure', 1);
  };

  const gone = (worker: Worker, code: number | null, signal: string | null) => {
    workers.delete(worker);
    starting.delete(worker);
    if (stopping) {
      if (code !== 0) exitCode = 1;
      if (!workers.size) void finish();
      return;
    }
    const how = signal ? `signal ${signal}` : `code ${code}`;
    // Before every worker listens, a death is start-up failing (the port taken, a bad models file): said once, not retried.
    if (!ready) return giveUp(`a worker process exited with ${how} while starting`);
    const now = Date.now();
    crashes = [...crashes.filter((at) => now - at < CRASH_WINDOW_MS), now];
    if (crashes.length >= CRASH_LIMIT) return giveUp(`worker processes exited ${crashes.length} times within ${CRASH_WINDOW_MS / 1000} s, the last with ${how}; not starting more`);
    const delay = crashes.length === 1 ? 0 : RESTART_BACKOFF_MS * 2 ** (crashes.length - 2);
    logger.error({ worker: worker.process.pid, code, signal, restartInMs: delay }, 'a worker process exited; starting another');
    const timer = setTimeout(() => {
      restarts.delete(timer);
      fork();
    }, delay);
    restarts.add(timer);
  };

  const fork = () => {
    // The workers' log is JSON lines on a pipe to this process, put in words here when this log is.
    const worker = cluster.fork({ LOG_FORMAT: 'json' });
    workers.add(worker);
    starting.add(worker);
    relayLines(worker, sink, pretty);
    worker.on('message', (message: Partial<Listening>) => {
      if (message?.tokenchat !== 'listening') return;
      starting.delete(worker);
      if (ready || starting.size || stopping) return;
      ready = true;
      logger.info({ url: message.url, dataDir: config.dataDir, workers: count }, 'tokenchat listening');
      if (banner) sink.lead(bannerLine(message.url!, config, { demo: Boolean(message.demo), chatModels: message.chatModels ?? [] }));
    });
    // 'close': the process is gone and its last log lines are read.
    worker.process.once('close', (code, signal) => gone(worker, code, signal));
  };

  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    for (const worker of workers) worker.process.kill('SIGHUP');
  });
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));

  try {
    await prepare(config, logger);
  } catch (err) {
    sink.lead();
    throw err;
  }
  if (stopping) return void finish();
  cluster.setupPrimary({ stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  forked = true;
  for (let i = 0; i < count; i++) fork();
}
