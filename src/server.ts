// Opens the data directory, migrates, listens, and shuts down gracefully on SIGTERM/SIGINT.
import cluster from 'node:cluster';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type ReloadReport } from './http/app';
import { recoverMessages } from './chat/conversations';
import { liveHolds } from './chat/turn';
import type { Config } from './config';
import { HEARTBEAT_MS, heartbeat, recoverHolds } from './ledger/ledger';
import { refillDue } from './ledger/buckets';
import { pruneRequests } from './ledger/org-limits';
import { pruneResponses } from './api/response-store';
import { watchRevocations } from './chat/revocation-watch';
import { rollUp } from './reports/usage-rollup';
import { createLogger, serverLogger, type Logger } from './log';
import { bannerLine, logFormatFor, type LogFormat } from './log-format';
import type { LogSink } from './log-sink';
import { drain, SETTLE_GRACE_MS } from './shutdown';
import { checkModelsInUse, DEFAULT_MODELS_FILE, loadModels, ModelsFileError, Offer, pricesHash, pricesInUse } from './metering/models';
import { RunningTurns } from './chat/running-turns';
import { loadSessionSecret } from './http/sessions';
import { migrateStore, openSessionStore, openStore, type AppStore } from './storage';
import { timeWritesWith } from './storage/write-timer';
import { ledgerWrites } from './metrics';
import { openSignals, type Signals } from './storage/signals';
import { pruneRateLimits } from './http/rate-store';
import { loadEncodings } from './metering/tokens';
import { routingFor } from './upstream/providers';
import { openPayments } from './payments/setup';
import { sweepTrades } from './payments/trades';
import type { TradeGateways } from './payments/trade-gateway';
import { expireStale } from './payments/orders';
import { Router } from './upstream/router';

export interface RunningServer {
  server: http.Server;
  database: AppStore;
  url: string;
  /** Serving the offline demo model (no provider set); `offer`: the models served now. */
  demo: boolean;
  offer: Offer;
  /** Reads the models file again and routes by it; throws (changing nothing) when it is bad. */
  reloadModels(): Promise<ReloadReport>;
  /**
   * Stops accepting, lets requests in flight finish (up to the shutdown timeout), stops the answers
   * still streaming then and waits for them to settle, and only then closes the databases.
   */
  close(): Promise<void>;
}

/** Logs still waiting at exit get until the drain deadline, and at least this long, to be written out. */
export const LOG_FLUSH_MS = 1000;

/** In a terminal, start-up's log lines wait at most this long for the address to go first. */
export const BANNER_HOLD_MS = 5000;

/** Past the drain deadline and the settle grace, the process exits whatever still hangs (a database that does not answer). */
export const EXIT_MARGIN_MS = 5000;

/** `schema`: on PostgreSQL, the schema to keep everything in (tests give each file its own). */
export async function startServer(config: Config, logger: Logger = createLogger(config.logLevel), opts: { schema?: string } = {}): Promise<RunningServer> {
  timeWritesWith(() => ledgerWrites.startTimer());
  const database = openStore(config, opts.schema ?? config.databaseSchema);
  if (database.dialect === 'postgres') {
    // Logged once per outage, not once per request it fails.
    database.availability.on('down', (err) => logger.error({ err }, 'the database is unavailable; requests are answered 503 until it answers again'));
    database.availability.on('up', () => logger.info('the database answers again'));
  }
  let catalog;
  try {
    const applied = await migrateStore(database);
    if (applied.length) logger.info({ applied }, 'migrations applied');
    catalog = loadModels(config.modelsFile); // a bad file stops start-up before anything else
    // Several hosts on one PostgreSQL database must charge the same prices.
    if (database.dialect === 'postgres') await database.write(checkModelsInUse, pricesHash(catalog), config.modelsFile ?? DEFAULT_MODELS_FILE);
  } catch (err) {
    await database.close();
    throw err;
  }
  loadEncodings(); // ~100 ms each, paid here rather than by the first chat turn
  let rolling = false;
  let trades: TradeGateways | undefined;
  let askingGateways = false;
  // Timers: a busy or failing database is logged and tried again next time, never a crash.
  // Shutdown stops them and waits for the work under way before it closes the database.
  const inFlight = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown>) => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  };
  const guarded = (what: string, fn: () => Promise<unknown>) => () => {
    track(fn().catch((err: unknown) => logger.error({ err }, `${what} failed; trying again at the next tick`)));
  };
  // Holds left by a crashed process (its heartbeat stopped) are resolved by whichever process
  // sweeps first: every heartbeat, so a crash freezes a balance for about HOLD_RECOVERY_MINUTES.
  const recover = guarded('hold recovery', async () => {
    const recovered = await recoverHolds(database, config.holdRecoveryMs, liveHolds);
    await database.write(recoverMessages);
    if (recovered.settled + recovered.released) logger.warn(recovered, 'recovered holds left by a crashed process');
  });
  const sweep = () => {
    guarded('rate-limit pruning', () => database.write(pruneRateLimits, new Date().toISOString()))();
    if (config.payments) guarded('expiring unpaid orders', () => database.write(expireStale, new Date()))();
    // One at a time: with a gateway down, each ask waits out its timeout and a sweep can outlast the minute.
    if ((trades?.alipay || trades?.wechat) && !askingGateways) {
      askingGateways = true;
      guarded('asking Alipay and WeChat Pay about late orders', () => sweepTrades(database, trades!, new Date()).finally(() => (askingGateways = false)))();
    }
    guarded('allowance refills', () => refillDue(database))();
    guarded('request log pruning', () => database.write(pruneRequests, new Date()))();
    guarded('stored responses pruning', () => database.write(pruneResponses, config.responsesKeepDays, new Date()))();
    if (rolling) return; // a first run over a large database can take longer than a minute
    rolling = true;
    track(
      rollUp(database)
        .then((days) => days > 1 && logger.info({ days }, 'usage rollup caught up'))
        .catch((err: unknown) => logger.error({ err }, 'usage rollup failed; reports read the turns directly until it works'))
        .finally(() => (rolling = false)),
    );
  };
  const sessions = openSessionStore(config, database);
  let signals: Signals | undefined;
  let app;
  let running: RunningTurns;
  const modelsFile = config.modelsFile ?? DEFAULT_MODELS_FILE;
  const keys = { openaiApiKey: config.openaiApiKey, openaiBaseUrl: config.openaiBaseUrl, keyOf: config.keyOf };
  const clientOptions = { timeoutMs: config.upstreamTimeoutMs, demoDelayMs: config.demoDelayMs };
  let upstream: Router;
  let offer: Offer;
  // One reload at a time: two at once could leave the routes of one file beside the models of the other.
  let reloading = Promise.resolve();
  const reloadModels = (): Promise<ReloadReport> => {
    const work = reloading.then(async () => {
      const next = loadModels(config.modelsFile);
      // Hosts on one database charge the same prices: new ones are adopted first (tokenchat models adopt).
      if (database.dialect === 'postgres' && (await database.read(pricesInUse)) !== pricesHash(next)) {
        throw new ModelsFileError(`MODELS_FILE ${modelsFile} prices the models differently from the file in use on this database: give every host the new file, run "tokenchat models adopt" once, then reload`);
      }
      const routing = routingFor(next, keys, clientOptions, modelsFile);
      if (routing.demo !== upstream.demo) throw new ModelsFileError(`MODELS_FILE ${modelsFile}: switching between the offline demo model and real providers takes a restart`);
      upstream.use(routing.table);
      offer.replace(routing.served);
      const report = { models: routing.served.models.length, providers: routing.table.clients.length };
      logger.info(report, 'models file reloaded');
      return report;
    });
    reloading = work.then(() => undefined, () => undefined);
    return work;
  };
  try {
    const routing = routingFor(catalog, keys, clientOptions, modelsFile);
    upstream = new Router(routing.table, { timeoutMs: config.upstreamTimeoutMs, breaker: config.breaker, logger });
    if (routing.demo) logger.warn('no model provider is set (OPENAI_API_KEY, or providers in the models file): serving the offline demo model');
    offer = new Offer(routing.served);
    // Paying by Stripe, Alipay or WeChat Pay: a bad packages file or key file stops start-up, naming it.
    const payments = await openPayments(config);
    trades = payments?.trades;
    signals = await openSignals(database, config.databaseUrl, (err) => logger.error({ err }, 'signals between processes failed; retrying'));
    running = new RunningTurns(signals);
    app = createApp({ config, database, sessions, offer, sessionSecret: loadSessionSecret(config), logger, upstream, running, reloadModels, payments });
  } catch (err) {
    // Nothing is left open behind a start-up that failed.
    await signals?.close();
    await Promise.all([sessions.close(), database.close()]);
    throw err;
  }
  let closing = false;
  const server = http.createServer((req, res) => {
    // While draining, answers close their connection so keep-alive clients do not hold shutdown up.
    if (closing) res.setHeader('Connection', 'close');
    res.once('finish', () => closing && setImmediate(() => server.closeIdleConnections()));
    app(req, res);
  });
  server.requestTimeout = 5 * 60_000; // long enough for a streamed answer, short enough to shed stuck clients
  // Idle keep-alive connections outlive a proxy's (nginx, Caddy, a cloud load balancer: 60 s), so
  // the proxy, not this process, closes them: otherwise a request it sends on a connection Node
  // is closing at that moment fails (a 502). Node's 5 s default invites that race.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
  } catch (err) {
    await signals.close();
    await Promise.all([sessions.close(), database.close()]);
    throw err;
  }
  // Sweeps and heartbeats start once the server listens.
  recover();
  sweep();
  const sweeper = setInterval(sweep, 60_000).unref();
  // Another process's sweep leaves this one's running turns alone while it hears of them.
  const beat = guarded('heartbeat', () => heartbeat(database, liveHolds));
  // A revoke or a disable that no signal carried (the command line on SQLite) still stops calls.
  const stopWatching = watchRevocations(database, running, (err) => logger.error({ err }, 'looking for revoked keys and disabled users failed; trying again'));
  const heart = setInterval(() => {
    beat();
    recover();
  }, HEARTBEAT_MS).unref();
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  // A cluster's worker says it to its primary, which says 'tokenchat listening' once every worker does.
  logger.info({ url, dataDir: config.dataDir }, cluster.isWorker ? 'worker listening' : 'tokenchat listening');

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      closing = true;
      clearInterval(sweeper);
      await drain(server, running, config.shutdownTimeoutMs, logger);
      stopWatching();
      clearInterval(heart); // beats on while turns run, so another process's sweep leaves them alone
      await Promise.all(inFlight);
      await signals.close();
      await Promise.all([database.close(), sessions.close()]);
      logger.info('tokenchat stopped');
    })());
  return { server, database, url, demo: upstream.demo, offer, reloadModels, close };
}

/** At exit (a crash too) the lines waiting go out if the pipe takes them at once; lines lost say so on stderr. */
export function writeOutAtExit(sink: LogSink, format: LogFormat): void {
  process.once('exit', () => {
    const { dropped, unwritten } = sink.writeOutAtExit();
    if (dropped + unwritten) {
      const msg = 'log lines lost: stdout was not read fast enough';
      process.stderr.write(format === 'pretty'
        ? `${msg} (${dropped} dropped, ${unwritten} unwritten)\n`
        : `${JSON.stringify({ level: 40, time: Date.now(), pid: process.pid, msg, dropped, unwritten })}\n`);
    }
  });
}

/**
 * The process's log as its reader wants it (words in a terminal or when asked, JSON lines
 * otherwise), written out at exit; a person reading sees first where to point a browser, so
 * start-up's lines are held back a moment for that line.
 */
export function processLog(config: Config): { logger: Logger; sink: LogSink; format: LogFormat; terminal: boolean; banner: boolean } {
  const terminal = Boolean(process.stdout.isTTY);
  const format = logFormatFor(config.logFormat, terminal);
  const { logger, sink } = serverLogger(config.logLevel, config.logBufferLimit, format);
  const banner = format === 'pretty' || terminal;
  if (banner) sink.holdFor(BANNER_HOLD_MS);
  writeOutAtExit(sink, format);
  return { logger, sink, format, terminal, banner };
}

/**
 * Runs until SIGTERM or SIGINT, then drains and exits: SHUTDOWN_TIMEOUT_MS after the signal when
 * nothing is left running then, and whatever hangs (a database, a log reader that stopped
 * reading), by the settle grace and a margin after it.
 */
export async function runServer(config: Config): Promise<void> {
  const { logger, sink, banner } = processLog(config);
  // Handlers go in before start-up, so a signal that arrives while starting still shuts down cleanly.
  const started = startServer(config, logger);
  if (banner) {
    void started.then(
      (running) => sink.lead(bannerLine(running.url, config, { demo: running.demo, chatModels: running.offer.chat.models.map((m) => m.id) })),
      () => sink.lead(), // what start-up logged before it failed
    );
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const deadline = Date.now() + config.shutdownTimeoutMs;
    setTimeout(() => {
      logger.error('shutdown did not finish in time; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + SETTLE_GRACE_MS + EXIT_MARGIN_MS).unref();
    logger.info({ signal }, 'shutting down');
    // Nothing is left to reject: a failed start or close becomes exit code 1, and flushWithin only resolves.
    void started
      .then((running) => running.close())
      .then(() => 0, (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        return 1;
      })
      .then(async (code) => {
        await sink.flushWithin(Math.max(deadline - Date.now(), LOG_FLUSH_MS));
        process.exit(code);
      });
  };
  // SIGHUP reads the models file again (providers, routes, prices); a bad file changes nothing.
  process.on('SIGHUP', () => {
    started
      .then((running) => running.reloadModels())
      .catch((err: unknown) => logger.error({ err: (err as Error).message }, 'the models file was not reloaded; the server goes on as it was'));
  });
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
  const running = await started;
  if (cluster.isWorker) process.send?.({ tokenchat: 'listening', url: running.url, demo: running.demo, chatModels: running.offer.chat.models.map((m) => m.id) });
}
