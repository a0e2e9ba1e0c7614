// The OpenAI-compatible API: /v1 with a personal key (`Authorization: Bearer tc-...`). Mounted
// before sessions and CSRF: a key never signs in to the pages and a session cookie never works
// here. Every answer, error or not, is in OpenAI's shape, with the x-request-id of its log line.
import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response, type Router } from 'express';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { checkKey, keyAllows, touchKey, TOUCH_EVERY_MS, type ApiKey, type KeyCheck } from '../../accounts/api-keys';
import { accessOf, type Access } from '../../groups/access';
import type { Op } from '../../storage/op';
import { runApiCall, type ApiDeps } from '../../api/call';
import { ApiError, badRequest, parseChatBody } from '../../api/request';
import { parseEmbeddingBody, runEmbedding } from '../../api/embeddings';
import { requestIdOf, type Logger } from '../../log';
import { apiSecurityHeaders } from '../security';
import { DATABASE_RETRY_AFTER_S } from '../errors';
import { isDatabaseFault } from '../../storage/faults';
import type { Offer } from '../../metering/models';
import { accessOfKey, answerJson, ChunkStream, errorBody, modelEntry, modelFor, whileRunning, withinKeyRate, type V1Deps } from './v1-common';
import { responsesRoutes } from './v1-responses';

declare module 'express-serve-static-core' {
  interface Request {
    apiKey?: ApiKey;
    /** The key owner's groups: which models they may use, at what price. */
    apiAccess?: Access;
  }
}

const WHY_NOT: Record<string, string> = {
  malformed: 'Incorrect API key provided. Keys look like tc-... ; make one on the API keys page.',
  unknown: 'Incorrect API key provided.',
  revoked: 'This API key has been revoked.',
  expired: 'This API key has expired.',
  disabled: 'The account this API key belongs to is disabled.',
};

/** The presented key and, when it may be used, its owner's groups: one read for both (one connection and turn on PostgreSQL). */
function* keyAndAccess(presented: string, now: Date): Op<{ checked: KeyCheck; access?: Access }> {
  const checked = yield* checkKey(presented, now);
  return checked.ok ? { checked, access: yield* accessOf(checked.key.userId) } : { checked };
}

/**
 * Records keys as used, at most once a minute each (TOUCH_EVERY_MS, as touchKey does in the
 * database): after this process wrote a key's time it skips the write for the minute that time
 * is fresh, rather than sending an UPDATE that changes nothing on every call. When another
 * process's time stood (nothing written), it asks again on a call a second later at the soonest,
 * so the time shown is never staler than the minute and that second.
 */
export class KeyTouches {
  private readonly until = new Map<number, number>();

  constructor(private readonly store: ApiDeps['store'], private readonly logger: ApiDeps['logger']) {}

  touch(keyId: number, now: Date): void {
    const at = now.getTime();
    if ((this.until.get(keyId) ?? 0) > at) return;
    this.until.set(keyId, at + 1_000); // a call meanwhile does not ask again while this write is on its way
    if (this.until.size > 10_000) for (const [id, until] of this.until) if (until <= at) this.until.delete(id);
    this.store.write(touchKey, keyId, now).then(
      (wrote) => wrote && this.until.set(keyId, at + TOUCH_EVERY_MS),
      (err) => {
        this.until.delete(keyId);
        this.logger.error({ err }, 'recording a key as used failed');
      },
    );
  }
}

function bearerAuth(deps: ApiDeps): RequestHandler {
  const touches = new KeyTouches(deps.store, deps.logger);
  return async (req, _res, next) => {
    const header = req.get('authorization') ?? '';
    const presented = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (!presented) throw new ApiError(401, 'No API key provided: send it as "Authorization: Bearer tc-...".', 'invalid_request_error', 'missing_api_key');
    const now = new Date();
    const { checked, access } = await deps.store.read(keyAndAccess, presented, now);
    if (!checked.ok) throw new ApiError(401, WHY_NOT[checked.reason]!, 'invalid_request_error', 'invalid_api_key');
    req.apiKey = checked.key;
    req.apiAccess = access;
    touches.touch(checked.key.id, now);
    next();
  };
}

function embeddings(deps: V1Deps, offer: Offer): RequestHandler {
  return async (req, res) => {
    const body = parseEmbeddingBody(req.body);
    const model = modelFor(offer.all, req.apiKey!, accessOfKey(req), body.model, 'embedding');
    const outcome = await whileRunning(deps.running, req.apiKey!, res, async (signal) => {
      await withinKeyRate(deps, req.apiKey!);
      return runEmbedding(deps, { key: req.apiKey!, body, model, requestId: requestIdOf(req), signal });
    });
    if (outcome.status === 'refused') throw outcome.error;
    answerJson(res, outcome.response);
  };
}

function chatCompletions(deps: V1Deps & { silentStartMs?: number }, offer: Offer): RequestHandler {
  return async (req, res) => {
    const body = parseChatBody(req.body);
    const model = modelFor(offer.all, req.apiKey!, accessOfKey(req), body.model, 'chat');
    let stream: ChunkStream | undefined;
    const outcome = await whileRunning(deps.running, req.apiKey!, res, async (signal) => {
      await withinKeyRate(deps, req.apiKey!);
      if (body.stream === true) stream = new ChunkStream(res, deps.silentStartMs);
      return runApiCall(deps, { key: req.apiKey!, body, model, requestId: requestIdOf(req), signal }, (chunk: ChatCompletionChunk) => stream?.send(chunk));
    });
    if (outcome.status === 'done') {
      if (stream) return stream.end();
      return answerJson(res, outcome.completion.toCompletion(model.id));
    }
    if (stream?.started) {
      stream.send(errorBody(outcome.error)); // output went out: the error ends the stream, as OpenAI's do
      return stream.end();
    }
    throw outcome.error;
  };
}

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

export function v1Routes(deps: V1Deps & { offer: Offer; bodyLimitBytes: number; silentStartMs?: number; responsesKeepDays?: number }): Router {
  const router = express.Router();
  router.use(apiSecurityHeaders());
  router.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  router.use(express.json({ limit: deps.bodyLimitBytes, type: () => true }));
  router.use(bearerAuth(deps));
  router.get('/models', async (req, res) => {
    const access = accessOfKey(req);
    res.json({ object: 'list', data: deps.offer.all.models.filter((m) => keyAllows(req.apiKey!, m.id) && access.allows(m.id)).map(modelEntry) });
  });
  router.get('/models/:id', async (req, res) => {
    res.json(modelEntry(modelFor(deps.offer.all, req.apiKey!, accessOfKey(req), String(req.params.id))));
  });
  router.post('/chat/completions', chatCompletions(deps, deps.offer));
  router.post('/embeddings', embeddings(deps, deps.offer));
  responsesRoutes(router, deps);
  router.use((req) => {
    throw new ApiError(404, `Unknown endpoint ${req.method} /v1${req.path}.`, 'invalid_request_error', 'unknown_url');
  });
  router.use(apiErrors(deps.logger));
  return router;
}
