// Turns whatever the openai SDK (or the fetch under it) throws into one UpstreamError with a kind
// the chat page can act on. The SDK's own classes nest oddly: APIUserAbortError and
// APIConnectionError are APIErrors without a status, so they are checked before the status.
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
} from 'openai';

export type UpstreamErrorKind =
  | 'auth'
  | 'rate_limit'
  | 'unknown_model'
  | 'context_length'
  | 'timeout'
  | 'connection'
  | 'aborted'
  | 'server'
  | 'bad_request'
  | 'quota';

export interface UpstreamErrorDetails {
  status?: number;
  retryAfterSeconds?: number;
  /** The provider's error code, e.g. "context_length_exceeded". */
  code?: string;
  midStream?: boolean;
  cause?: unknown;
}

/**
 * A failed call to the model API. `message` is for logs (it may quote the provider); what a user
 * is told should be chosen by `kind`.
 */
export class UpstreamError extends Error {
  override name = 'UpstreamError';
  kind: UpstreamErrorKind;
  status?: number;
  retryAfterSeconds?: number;
  code?: string;
  /** true if any delta was yielded before it */
  midStream: boolean;

  constructor(kind: UpstreamErrorKind, message: string, details: UpstreamErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.kind = kind;
    this.midStream = details.midStream ?? false;
    if (details.status !== undefined) this.status = details.status;
    if (details.retryAfterSeconds !== undefined) this.retryAfterSeconds = details.retryAfterSeconds;
    if (details.code !== undefined) this.code = details.code;
  }
}

/** Anything a model call threw, as an UpstreamError (one that is not already is a server failure). */
export function asUpstreamError(err: unknown): UpstreamError {
  return err instanceof UpstreamError ? err : new UpstreamError('server', (err as Error)?.message ?? String(err), { cause: err });
}

/** What the stream knew when it failed: the SDK cannot tell a user's abort from our idle timer. */
export interface FailureContext {
  midStream: boolean;
  aborted: boolean;
  timedOut: boolean;
}

const CONTEXT_LENGTH = /maximum context length|context[ _]length|context window|too many tokens|prompt is too long/i;

export function toUpstreamError(err: unknown, ctx: FailureContext): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const midStream = ctx.midStream;
  if (ctx.aborted) return new UpstreamError('aborted', 'the request was aborted', { midStream, cause: err });
  if (ctx.timedOut || err instanceof APIConnectionTimeoutError) {
    return new UpstreamError('timeout', 'the model API did not answer in time', { midStream, cause: err });
  }
  if (err instanceof APIUserAbortError || isAbortError(err)) {
    return new UpstreamError('aborted', 'the request was aborted', { midStream, cause: err });
  }
  if (err instanceof APIConnectionError) return new UpstreamError('connection', err.message, { midStream, cause: err });
  if (err instanceof APIError) return fromApiError(err, midStream);
  // JSON.parse failing on an event: the upstream sent something that is not the wire format.
  if (err instanceof SyntaxError) {
    return new UpstreamError('server', `malformed stream from the model API: ${err.message}`, { midStream, cause: err });
  }
  // undici's "terminated" / "other side closed" while reading the body, and the like.
  const message = err instanceof Error ? err.message : String(err);
  return new UpstreamError('connection', `connection to the model API failed: ${message}`, { midStream, cause: err });
}

// What it reads of the SDK's error (instanceof narrows to APIError<any, any, any>: these fields keep their types).
function fromApiError(err: Pick<APIError, 'status' | 'code' | 'type' | 'message' | 'headers'>, midStream: boolean): UpstreamError {
  const status = err.status;
  const code = typeof err.code === 'string' ? err.code : typeof err.type === 'string' ? err.type : undefined;
  const details = { status, code, midStream, cause: err };
  const kind = kindOf(status, code, err.message);
  // 503s from overloaded providers carry Retry-After too.
  if (kind === 'rate_limit' || kind === 'server') {
    return new UpstreamError(kind, err.message, { ...details, retryAfterSeconds: retryAfterSeconds(err.headers) });
  }
  return new UpstreamError(kind, err.message, details);
}

// An error event inside a 200 stream has no status: it is classified by its code alone.
function kindOf(status: number | undefined, code: string | undefined, message: string): UpstreamErrorKind {
  if (code === 'insufficient_quota' || status === 402) return 'quota';
  if (code === 'model_not_found' || status === 404) return 'unknown_model';
  if (code === 'context_length_exceeded') return 'context_length';
  if (status === 401 || status === 403 || code === 'invalid_api_key') return 'auth';
  if (status === 429 || code === 'rate_limit_exceeded') return 'rate_limit';
  if (status === 408) return 'timeout';
  if (status === 400 && CONTEXT_LENGTH.test(message)) return 'context_length';
  if (status !== undefined && status >= 400 && status < 500) return 'bad_request';
  return 'server';
}

/** Seconds to wait, from retry-after-ms (OpenAI) or Retry-After (seconds or an HTTP date). */
export function retryAfterSeconds(headers: Headers | undefined, now = Date.now()): number | undefined {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return Math.ceil(ms / 1000);
  const value = headers?.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value));
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

function isAbortError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError';
}
