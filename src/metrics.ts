// Prometheus metrics for operators running several processes (GET /metrics when METRICS=true):
// what turns ended as and cost, the model API's latency and errors, the queue, open holds, ledger
// write latency and the database pool. Labels are outcomes, kinds, dialects and provider ids only: never a
// user, a conversation, a key or a model answer.
import client from 'prom-client';

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry, prefix: 'tokenchat_' });

export const turns = new client.Counter({
  name: 'tokenchat_turns_total', help: 'Chat turns that reached the model API, by how they ended', labelNames: ['outcome'] as const, registers: [registry],
});
export const tokensCharged = new client.Counter({
  name: 'tokenchat_tokens_charged_total', help: 'Balance tokens charged for turns', registers: [registry],
});
export const tokensUncollected = new client.Counter({
  name: 'tokenchat_tokens_uncollected_total', help: 'Balance tokens a provider reported past a turn\'s hold (not charged)', registers: [registry],
});
export const upstreamLatency = new client.Histogram({
  name: 'tokenchat_upstream_latency_seconds', help: 'Model API calls, from request to the end of the answer',
  buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300], registers: [registry],
});
export const upstreamErrors = new client.Counter({
  name: 'tokenchat_upstream_errors_total', help: 'Model API failures, by kind', labelNames: ['kind'] as const, registers: [registry],
});
export const providerCalls = new client.Counter({
  name: 'tokenchat_provider_calls_total', help: 'Calls sent to each model provider, by how they ended (ok, failed_over, failed, stopped)',
  labelNames: ['provider', 'outcome'] as const, registers: [registry],
});
export const ledgerWrites = new client.Histogram({
  name: 'tokenchat_db_write_seconds', help: 'Database write transactions (ledger, chat, accounts; on SQLite one per group commit), start to commit',
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry],
});

export const logLinesDropped = new client.Counter({
  name: 'tokenchat_log_lines_dropped_total', help: 'Log lines dropped because stdout was not read fast enough (LOG_BUFFER_LIMIT)', registers: [registry],
});

interface Sources {
  queue: () => { running: number; waiting: number };
  holdsOpen: () => number;
  pool: () => { total: number; idle: number; waiting: number } | undefined;
}
let sources: Sources = { queue: () => ({ running: 0, waiting: 0 }), holdsOpen: () => 0, pool: () => undefined };

/** Where the gauges read from when scraped (the app that serves /metrics). */
export function watch(from: Sources): void {
  sources = from;
}

const gauge = (name: string, help: string, read: () => number | undefined) =>
  new client.Gauge({
    name, help, registers: [registry],
    collect() {
      const v = read();
      if (v !== undefined) this.set(v);
    },
  });
gauge('tokenchat_queue_running', 'Turns holding a model API slot in this process', () => sources.queue().running);
gauge('tokenchat_queue_waiting', 'Turns waiting for a model API slot in this process', () => sources.queue().waiting);
gauge('tokenchat_holds_open', 'Holds of turns this process is running', () => sources.holdsOpen());
gauge('tokenchat_db_pool_connections', 'PostgreSQL connections open in this process', () => sources.pool()?.total);
gauge('tokenchat_db_pool_idle', 'PostgreSQL connections idle in this process', () => sources.pool()?.idle);
gauge('tokenchat_db_pool_waiting', 'Queries waiting for a PostgreSQL connection in this process', () => sources.pool()?.waiting);
