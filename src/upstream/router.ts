// Which provider serves a model call, and failover between them. Each model lists its providers
// in priority order; a call goes to the first whose circuit breaker admits it, and a failure of the
// provider's (connection, timeout, 429, 5xx, its key or quota refused, the model unknown there)
// before any output moves it to the next. Once output went out it never moves: an answer is shown
// and billed once. The caller holds one hold for the whole call, however many providers it tries.
import { performance } from 'node:perf_hooks';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { ModelRoute } from '../metering/models';
import type { Logger } from '../log';
import * as metrics from '../metrics';
import {
  chunksOf, DEMO_PROVIDER, hasOutput, implicitProvider, providerBody, providerClient, turnBody, turnEvents,
  type ClientOptions, type EmbedRequest, type ProviderClient, type RelayRequest, type Served, type StreamEvent, type StreamRequest, type Upstream,
} from './client';
import { embeddingsOf, type Embedded } from './embeddings';
import { asUpstreamError, UpstreamError, type UpstreamErrorKind } from './errors';
import { DEFAULT_BREAKER, ProviderHealth, type BreakerSettings, type HealthView } from './health';

/** What the router sends where: the providers, each model's routes, and the provider of the rest. */
export interface RoutingTable {
  clients: ReadonlyArray<ProviderClient>;
  /** A model's providers in priority order; a model not here goes to `fallback` under its own id. */
  routes: ReadonlyMap<string, ReadonlyArray<ModelRoute>>;
  fallback: string | undefined;
}

export interface RouterOptions {
  timeoutMs: number;
  breaker?: BreakerSettings;
  logger?: Logger;
  now?: () => number;
}

export interface ProviderStatus extends HealthView {
  id: string;
  name: string;
  /** Its base URL without any credentials in it. */
  baseURL: string;
  models: string[];
}

interface Attempt {
  provider: ProviderClient;
  health: ProviderHealth;
  model: string;
}

/** Failures of a provider's own: another provider may well answer. */
const PROVIDER_FAULTS: ReadonlySet<UpstreamErrorKind> = new Set(['connection', 'timeout', 'rate_limit', 'server', 'auth', 'quota', 'unknown_model']);

export class Router implements Upstream {
  private table!: {
    routes: Map<string, Attempt[]>; fallback: ProviderClient | undefined; clients: ReadonlyArray<ProviderClient>; health: Map<ProviderClient, ProviderHealth>; demo: boolean;
  };
  /** Each provider's health by its id and address, kept across reloads. */
  private readonly healths = new Map<string, ProviderHealth>();

  constructor(
    table: RoutingTable,
    private readonly opts: RouterOptions,
  ) {
    this.use(table);
  }

  get demo(): boolean {
    return this.table.demo;
  }

  /**
   * Routes by `table` from now on. Calls already running keep the providers they were given; a
   * provider kept at the same address keeps its health (its breaker and its last hour).
   */
  use(table: RoutingTable): void {
    const keyOf = (c: ProviderClient) => `${c.spec.id} ${c.spec.baseURL}`;
    const live = new Set(table.clients.map(keyOf));
    for (const key of this.healths.keys()) if (!live.has(key)) this.healths.delete(key);
    const health = new Map(table.clients.map((c) => {
      let h = this.healths.get(keyOf(c));
      if (!h) this.healths.set(keyOf(c), (h = new ProviderHealth(this.opts.breaker ?? DEFAULT_BREAKER, this.opts.now)));
      return [c, h] as const;
    }));
    const byId = new Map(table.clients.map((c) => [c.spec.id, c]));
    const attempt = (provider: ProviderClient, model: string): Attempt => ({ provider, health: health.get(provider)!, model });
    const routes = new Map<string, Attempt[]>();
    for (const [model, list] of table.routes) routes.set(model, list.map((r) => attempt(byId.get(r.provider)!, r.model)));
    const fallback = table.fallback === undefined ? undefined : byId.get(table.fallback);
    this.table = { routes, fallback, clients: table.clients, health, demo: table.clients.length === 1 && table.clients[0]!.spec === DEMO_PROVIDER };
  }

  /** Every provider, its state as this process sees it, and the models it serves. */
  status(): ProviderStatus[] {
    const { routes, fallback, clients } = this.table;
    return clients.map((c) => {
      const models = [...routes].filter(([, list]) => list.some((a) => a.provider === c)).map(([id]) => id);
      const url = new URL(c.spec.baseURL);
      url.username = '';
      url.password = '';
      return {
        id: c.spec.id, name: c.spec.name, baseURL: url.toString().replace(/\/$/, ''),
        models: c === fallback ? [...models, '*'] : models, ...this.table.health.get(c)!.view(),
      };
    });
  }

  /** The failover's own iterator, not one wrapped around it: every chunk of a turn passes through it. */
  stream(req: StreamRequest): AsyncIterable<StreamEvent> {
    if (!(req.maxTokens === Number.POSITIVE_INFINITY || (Number.isInteger(req.maxTokens) && req.maxTokens > 0))) {
      return refusedStream(new UpstreamError('bad_request', `maxTokens must be a positive integer, not ${req.maxTokens}`));
    }
    const body = turnBody(req);
    return this.failover(req, (e) => e.type === 'delta', (a) =>
      turnEvents(chunksOf(a.provider.client, providerBody(a.provider.spec, a.model, body, req.maxTokens), req.signal, req.silenceMs ?? this.opts.timeoutMs, a.provider.spec.api)),
    );
  }

  relay(req: RelayRequest): AsyncIterable<ChatCompletionChunk> {
    return this.failover(req, hasOutput, (a) => {
      const chunks = chunksOf(a.provider.client, providerBody(a.provider.spec, a.model, req.body, req.maxTokens), req.signal, req.silenceMs ?? this.opts.timeoutMs, a.provider.spec.api);
      // The client asked for the model by its id here, and is answered under it, whatever the provider calls it.
      return a.model === req.model ? chunks : renamed(chunks, req.model);
    });
  }

  /** A provider whose answer is not one usable vector per input failed, as one that sent a 500 did. */
  async embed(req: EmbedRequest): Promise<Embedded> {
    const answers = this.failover(req, () => true, (a) =>
      (async function* () {
        yield await embeddingsOf(a.provider.client, { ...req.body, model: a.model }, req.signal);
      })(),
    );
    for await (const answer of answers) return answer;
    throw new UpstreamError('server', 'the model API sent no embeddings');
  }

  private attempts(model: string): Attempt[] {
    const listed = this.table.routes.get(model);
    if (listed) return listed;
    const fallback = this.table.fallback;
    if (!fallback) throw new UpstreamError('unknown_model', `no provider serves ${model}`);
    return [{ provider: fallback, health: this.table.health.get(fallback)!, model }];
  }

  /**
   * The first answer of the model's providers, in order, that did not fail before its output.
   * Items that are not output (a role chunk) are held back until output comes, so a provider that
   * fails after them is replaced unseen. A provider whose breaker is open is tried only when every
   * other one failed; whether it is open is asked only when its turn comes, so a provider after
   * one that answered keeps its trial for a call that needs it. Once the caller stopped (`stop`),
   * no other provider is started: a stopped answer read on for its usage must not begin anew.
   */
  private async *failover<T>(
    req: { model: string; signal: AbortSignal; stop?: AbortSignal; onProvider?: (served: Served) => void },
    isOutput: (item: T) => boolean, run: (attempt: Attempt) => AsyncIterable<T>,
  ): AsyncGenerator<T> {
    const { model, signal, onProvider } = req;
    const pending = [...this.attempts(model)];
    const skipped: Attempt[] = [];
    const nextAttempt = (): Attempt | undefined => {
      for (let a = pending.shift(); a; a = pending.shift()) {
        if (a.health.admits()) return a;
        skipped.push(a);
      }
      return skipped.shift();
    };
    let last: UpstreamError | undefined;
    for (let attempt = nextAttempt(); attempt; attempt = nextAttempt()) {
      const { provider, health } = attempt;
      onProvider?.({ provider: provider.spec.id, model: attempt.model });
      health.started();
      const started = performance.now();
      const held: T[] = [];
      let output = false;
      try {
        for await (const item of run(attempt)) {
          if (output) {
            yield item;
            continue;
          }
          if (!isOutput(item)) {
            held.push(item);
            continue;
          }
          output = true;
          health.answered(performance.now() - started);
          yield* held.splice(0);
          yield item;
        }
        if (!output) health.answered(performance.now() - started);
        health.succeeded();
        metrics.providerCalls.inc({ provider: provider.spec.id, outcome: 'ok' });
        yield* held;
        return;
      } catch (thrown) {
        const err = scrubbed(asUpstreamError(thrown), provider.secret);
        const providers = err.kind !== 'aborted' && !signal.aborted && PROVIDER_FAULTS.has(err.kind);
        if (providers) health.failed(err);
        const next = !output && providers && !req.stop?.aborted && pending.length + skipped.length > 0;
        metrics.providerCalls.inc({ provider: provider.spec.id, outcome: signal.aborted || err.kind === 'aborted' ? 'stopped' : next ? 'failed_over' : 'failed' });
        if (!next) throw err;
        this.opts.logger?.warn({ provider: provider.spec.id, model: attempt.model, kind: err.kind, status: err.status }, 'a provider failed before any output; trying the next');
        last = err;
      }
    }
    throw last ?? new UpstreamError('server', `no provider serves ${model}`);
  }
}

async function* renamed(chunks: AsyncIterable<ChatCompletionChunk>, model: string): AsyncGenerator<ChatCompletionChunk> {
  for await (const chunk of chunks) yield { ...chunk, model };
}

/** The error without the provider's key in it: some providers quote the key they were sent. */
function scrubbed(err: UpstreamError, secret: string | undefined): UpstreamError {
  if (!secret) return err;
  const said = (e: unknown): string => (e instanceof Error ? `${e.message} ${said(e.cause)}` : typeof e === 'string' ? e : '');
  if (!said(err).includes(secret) && !JSON.stringify((err.cause as { error?: unknown })?.error ?? '').includes(secret)) return err;
  return new UpstreamError(err.kind, err.message.split(secret).join('[key]'), {
    midStream: err.midStream, ...(err.status !== undefined && { status: err.status }), ...(err.code !== undefined && { code: err.code }),
    ...(err.retryAfterSeconds !== undefined && { retryAfterSeconds: err.retryAfterSeconds }),
  });
}

/** A router over one provider for every model: OPENAI_API_KEY and OPENAI_BASE_URL, or the demo model without a key. */
export function createUpstream(opts: ClientOptions & { apiKey?: string; baseURL?: string; breaker?: BreakerSettings; logger?: Logger }): Router {
  const spec = opts.apiKey ? implicitProvider(opts.baseURL) : DEMO_PROVIDER;
  return new Router({ clients: [providerClient(spec, opts.apiKey, opts)], routes: new Map(), fallback: spec.id }, opts);
}

/** A stream that fails when it is read, as a generator's check does (not when it is asked for). */
function refusedStream(err: UpstreamError): AsyncIterable<never> {
  return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(err) }) };
}
