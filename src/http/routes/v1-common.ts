// What the /v1 routes share: the model a key may use, its per-minute limits, a call that stops
// when its client goes away, the server-sent events stream, and OpenAI's error body.
import type { Request, Response } from 'express';
import { checkKeyRate, keyAllows, type ApiKey } from '../../accounts/api-keys';
import type { ApiDeps } from '../../api/call';
import { tracked } from '../../api/in-flight';
import { ApiError } from '../../api/request';
import type { RunningTurns } from '../../chat/running-turns';
import type { Access } from '../../groups/access';
import type { ModelCatalog, ModelInfo } from '../../metering/models';
import { SSE_HEADERS } from '../sse';

export type V1Deps = ApiDeps & { running: RunningTurns };

export const modelEntry = (m: ModelInfo) => ({ id: m.id, object: 'model', created: 0, owned_by: 'tokenchat' });

/** The key owner's groups: which models they may use, at what price (read with the key, once per request). */
export const accessOfKey = (req: Request): Access => req.apiAccess!;

/** The model asked for, priced as the key's owner pays for it, if the key and the owner's groups allow it. */
export function modelFor(models: ModelCatalog, key: ApiKey, access: Access, id: string, kind?: ModelInfo['kind']): ModelInfo {
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
export async function withinKeyRate(deps: ApiDeps, key: ApiKey): Promise<void> {
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
export async function whileRunning<T>(running: RunningTurns, key: ApiKey, res: Response, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
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


/** A stream still silent after this long starts anyway (headers, then comment lines), so a proxy does not time it out. */
const SILENT_START_MS = 10_000;
const PING_MS = 15_000;

/**
 * Server-sent events in OpenAI's form. The headers go with the first chunk, so an error before it
 * is a plain HTTP status; a model that stays silent longer (a reasoning model thinking) gets them
 * after SILENT_START_MS, and comment lines every PING_MS keep proxies (nginx's 60 s read timeout)
 * from cutting the wait. Clients' SSE parsers skip comment lines.
 */
export class ChunkStream {
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

  /** A typed event, as the Responses API streams them (`event:` names its type). */
  event(data: { type: string }): void {
    this.start();
    if (this.open) this.res.write(`event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** Ends the stream: chat completions end with [DONE], the Responses API with its last event. */
  end(last: string = 'data: [DONE]\n\n'): void {
    this.stop();
    if (this.open) this.res.end(last);
  }
}


/**
 * A model's answer as JSON, written as res.json would but without what a POST's answer never
 * uses: no ETag (a hash of the whole body on every call), no freshness check.
 */
export function answerJson(res: Response, body: unknown): void {
  const text = JSON.stringify(body);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

export const errorBody = (err: ApiError) => ({ error: { message: err.message, type: err.type, param: err.param, code: err.code } });

