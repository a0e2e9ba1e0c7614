// The OpenAI-compatible API: /v1 with a personal key (`Authorization: Bearer tc-...`). Mounted
// before sessions and CSRF: a key never signs in to the pages and a session cookie never works
// here. Every answer, error or not, is in OpenAI's shape, with the x-request-id of its log line.
import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response, type Router } from 'express';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { checkKey, checkKeyRate, keyAllows, touchKey, type ApiKey } from '../../accounts/api-keys';
import { runApiCall, type ApiDeps } from '../../api/call';
import { ApiError, badRequest, parseChatBody } from '../../api/request';
import { parseEmbeddingBody, runEmbedding } from '../../api/embeddings';
import { tracked } from '../../api/in-flight';
import type { RunningTurns } from '../../chat/running-turns';
import { requestIdOf, type Logger } from '../../log';
import { apiSecurityHeaders } from '../security';
import { DATABASE_RETRY_AFTER_S } from '../errors';
import { isDatabaseFault } from '../../storage/faults';
import { SSE_HEADERS } from '../sse';
import type { ModelCatalog, ModelInfo, Offer } from '../../metering/models';
import { accessOf, type Access } from '../../groups/access';

declare module 'express-serve-static-core' {
  interface Request {
    apiKey?: ApiKey;
  }
}

const WHY_NOT: Record<string, string> = {
  malformed: 'Incorrect API key provided. Keys look like tc-... ; make one on the API keys page.',
  unknown: 'Incorrect API key provided.',
  revoked: 'This API key has been revoked.',
  expired: 'This API key has expired.',
  disabled: 'The account this API key belongs to is disabled.',
};

function bearerAuth(deps: ApiDeps): RequestHandler {
  return async (req, _res, next) => {
    const header = req.get('authorization') ?? '';
    const presented = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (!presented) throw new ApiError(401, 'No API key provided: send it as "Authorization: Bearer tc-...".', 'invalid_request_error', 'missing_api_key');
    const checked = await deps.store.read(checkKey, presented, new Date());
    if (!checked.ok) throw new ApiError(401, WHY_NOT[checked.reason]!, 'invalid_request_error', 'invalid_api_key');
    req.apiKey = checked.key;
    void deps.store.write(touchKey, checked.key.id, new Date()).catch((err) => deps.logger.error({ err }, 'recording a key as used failed'));
    next();
  };
}

const modelEntry = (m: ModelInfo) => ({ id: m.id, object: 'model', created: 0, owned_by: 'tokenchat' });

/** The key owner's groups: which models they may use, at what price (one read per request). */
const accessOfKey = (deps: ApiDeps, key: ApiKey): Promise<Access> => deps.store.read(accessOf, key.userId);

/** The model asked for, priced as the key's owner pays for it, if the key and the owner's groups allow it. */
function modelFor(models: ModelCatalog, key: ApiKey, access: Access, id: string, kind?: ModelInfo['kind']): ModelInfo {
  const model = models.find(id);
  if (!model) throw new ApiError(404, `The model "${id}" does not exist here.`, 'invalid_request_error', 'model_not_found', 'model');
  if (!keyAllows(key, id)) throw new ApiError(403, `This API key may not use the model "${id}".`, 'permission_error', 'model_not_allowed', 'model');
  if (!access.allows(id)) {
    const groups = access.rules.map((r) => r.name).join(', ');
    throw new ApiError(403, `The model "${id}" is not available to this account (its groups: ${groups}).`, 'permission_error', 'model_not_allowed', 'model');
  }
  if (kind && model.kind !== kind) {
    const where = model.kind === 'chat' ? '/v1/chat/completions' : '/v1/embeddings';
    throw new ApiError(400, `"${id}" is not ${kind === 'chat' ? 'a chat' : 'an embedding'} model; use it with ${where}.`, 'invalid_request_error', 'model_not_supported', 'model');
  }
  return access.priced(model);
}

/** Counts the call against the key's requests and tokens per minute; a 429 past either. */
async function withinKeyRate(deps: ApiDeps, key: ApiKey): Promise<void> {
  if (key.rpm === null && key.tpm === null) return; // no write for a key without per-minute limits
  const rate = await deps.store.write(checkKeyRate, key, new Date());
  if (rate.ok) return;
  throw new ApiError(429, `This API key's ${rate.what} per minute are used up; try again in ${rate.retryAfterSeconds} s.`, 'rate_limit_error',
    rate.what === 'requests' ? 'rpm_limit_reached' : 'tpm_limit_reached', null, { 'Retry-After': String(rate.retryAfterSeconds) });
}

/**
 * Runs a call with a signal that aborts when the client goes away before its answer is complete
 * ('gone'), or when the call is stopped from elsewhere: its key revoked, its owner disabled, the
 * server shutting down (running-turns.ts; the reason says which).
 */
async function whileRunning<T>(running: RunningTurns, key: ApiKey, res: Response, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  // Registered before any wait, so a client gone or a shutdown begun meanwhile still stops it.
  res.on('close', () => res.writableFinished || controller.abort('gone'));
  if (res.destroyed) controller.abort('gone');
  const done = running.addCall(key.userId, key.id, controller);
  try {
    return await tracked(call(controller.signal));
  } finally {
    done();
  }
}

type V1Deps = ApiDeps & { running: RunningTurns };

function embeddings(deps: V1Deps, offer: Offer): RequestHandler {
  return async (req, res) => {
    const body = parseEmbeddingBody(req.body);
    const model = modelFor(offer.all, req.apiKey!, await accessOfKey(deps, req.apiKey!), body.model, 'embedding');
    const outcome = await whileRunning(deps.running, req.apiKey!, res, async (signal) => {
      await withinKeyRate(deps, req.apiKey!);
      return runEmbedding(deps, { key: req.apiKey!, body, model, requestId: requestIdOf(req), signal });
    });
    if (outcome.status === 'refused') throw outcome.error;
    res.json(outcome.response);
  };
}

/** A stream still silent after this long starts anyway (headers, then comment lines), so a proxy does not time it out. */
const SILENT_START_MS = 10_000;
const PING_MS = 15_000;

/**
 * Server-sent events in OpenAI's form. The headers go with the first chunk, so an error before it
 * is a plain HTTP status; a model that stays silent longer (a reasoning model thinking) gets them
 * after SILENT_START_MS, and comment lines every PING_MS keep proxies (nginx's 60 s read timeout)
 * from cutting the wait. Clients' SSE parsers skip comment lines.
 */
class ChunkStream {
  private readonly timer: NodeJS.Timeout;
  private ping: NodeJS.Timeout | undefined;

  constructor(private readonly res: Response, silentStartMs = SILENT_START_MS) {
    this.timer = setTimeout(() => this.start(': waiting for the model\n\n'), silentStartMs);
    res.once('close', () => this.stop());
  }

  get started(): boolean {
    return this.res.headersSent;
  }

  private get open(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  private start(comment?: string): void {
    if (this.started || !this.open) return;
    this.res.writeHead(200, SSE_HEADERS);
    this.res.socket?.setNoDelay(true);
    this.ping = setInterval(() => this.open && this.res.write(': ping\n\n'), PING_MS);
    if (comment) this.res.write(comment);
  }

  private stop(): void {
    clearTimeout(this.timer);
    clearInterval(this.ping);
  }

  send(data: unknown): void {
    this.start();
    if (this.open) this.res.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  end(): void {
    this.stop();
    if (this.open) this.res.end('data: [DONE]\n\n');
  }
}

function chatCompletions(deps: V1Deps & { silentStartMs?: number }, offer: Offer): RequestHandler {
  return async (req, res) => {
    const body = parseChatBody(req.body);
    const model = modelFor(offer.all, req.apiKey!, await accessOfKey(deps, req.apiKey!), body.model, 'chat');
    let stream: ChunkStream | undefined;
    const outcome = await whileRunning(deps.running, req.apiKey!, res, async (signal) => {
      await withinKeyRate(deps, req.apiKey!);
      if (body.stream === true) stream = new ChunkStream(res, deps.silentStartMs);
      return runApiCall(deps, { key: req.apiKey!, body, model, requestId: requestIdOf(req), signal }, (chunk: ChatCompletionChunk) => stream?.send(chunk));
    });
    if (outcome.status === 'done') {
      if (stream) return stream.end();
      return void res.json(outcome.completion.toCompletion(model.id));
    }
    if (stream?.started) {
      stream.send(errorBody(outcome.error)); // output went out: the error ends the stream, as OpenAI's do
      return stream.end();
    }
    throw outcome.error;
  };
}

const errorBody = (err: ApiError) => ({ error: { message: err.message, type: err.type, param: err.param, code: err.code } });

/** The database is away for a moment: 503, and the SDKs may send it again (they retry 5xx unless told not to). */
const databaseUnavailable = () =>
  new ApiError(503, 'The database is not answering right now; try again in a few seconds. The request was not charged unless output was sent.', 'server_error',
    'database_unavailable', null, { 'x-should-retry': 'true', 'Retry-After': String(DATABASE_RETRY_AFTER_S) });

function apiErrors(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req: Request, res: Response, _next) => {
    let api = err instanceof ApiError ? err : undefined;
    const e = err as { type?: string; status?: number };
    if (!api && e.type === 'entity.parse.failed') api = badRequest('The body is not valid JSON.');
    if (!api && e.type === 'entity.too.large') api = new ApiError(413, 'The request body is too large.', 'invalid_request_error', 'request_too_large');
    if (!api && isDatabaseFault(err)) {
      logger.warn({ err: (err as Error).message, reqId: req.id }, 'API request failed: the database is unavailable');
      api = databaseUnavailable();
    }
    if (!api) {
      logger.error({ err, reqId: req.id }, 'API request failed');
      api = new ApiError(500, 'The server failed to answer; the request was not charged unless output was sent.', 'server_error', 'internal_error');
    }
    if (res.headersSent) return void res.end();
    res.status(api.status).set(api.headers).json(errorBody(api));
  };
}

export function v1Routes(deps: V1Deps & { offer: Offer; bodyLimitBytes: number; silentStartMs?: number }): Router {
  const router = express.Router();
  router.use(apiSecurityHeaders());
  router.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  router.use(express.json({ limit: deps.bodyLimitBytes, type: () => true }));
  router.use(bearerAuth(deps));
  router.get('/models', async (req, res) => {
    const access = await accessOfKey(deps, req.apiKey!);
    res.json({ object: 'list', data: deps.offer.all.models.filter((m) => keyAllows(req.apiKey!, m.id) && access.allows(m.id)).map(modelEntry) });
  });
  router.get('/models/:id', async (req, res) => {
    res.json(modelEntry(modelFor(deps.offer.all, req.apiKey!, await accessOfKey(deps, req.apiKey!), String(req.params.id))));
  });
  router.post('/chat/completions', chatCompletions(deps, deps.offer));
  router.post('/embeddings', embeddings(deps, deps.offer));
  router.use((req) => {
    throw new ApiError(404, `Unknown endpoint ${req.method} /v1${req.path}.`, 'invalid_request_error', 'unknown_url');
  });
  router.use(apiErrors(deps.logger));
  return router;
}
