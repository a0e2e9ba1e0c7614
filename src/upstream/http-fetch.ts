// The `fetch` the openai SDK is handed for model APIs: node:http and node:https with keep-alive
// agents, answering with a Response-shaped object whose body is the Node stream itself. The SDK
// reads a body that is async-iterable as it is (its ReadableStreamToAsyncIterable), so each
// streamed chunk goes from the socket to the SSE decoder without undici's WebAssembly parser and
// web streams in between: measured, 2.8-3.9 ms of CPU per 40-chunk streamed call instead of
// 4.8-5.9 ms (BENCHMARKS.md, 2026-11-29). Anything the SDK could send that is not a string or
// bytes goes to the global fetch, as does any scheme but http: and https:, and any redirect.
import http from 'node:http';
import https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import zlib from 'node:zlib';
import { Readable } from 'node:stream';

/** An idle connection is closed after this (undici's default keep-alive timeout is 4 s). */
const IDLE_SOCKET_MS = 4_000;

const agents = {
  'http:': new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS, scheduling: 'lifo' }),
  'https:': new https.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS, scheduling: 'lifo' }),
};

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Tries again on another connection after kept-alive ones the server had closed (each stale one is dropped as it fails). */
const STALE_RETRIES = 2;

/**
 * What an aborted fetch rejects with: an Error named AbortError, as the SDK tells an abort (its own
 * timeout's included) by the name. Not a DOMException: in another realm (a vm context, jest's) that
 * is no `instanceof Error`, and the SDK's copy of it lost the name, so its timeout read as a
 * failed connection.
 */
const abortError = () => Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });

/** A body decoded as the server's Content-Encoding says (none asked for, but some servers send it). */
function decoded(res: IncomingMessage): Readable {
  if (res.statusCode === 204 || res.statusCode === 304 || res.headers['content-length'] === '0') return res;
  const encoding = String(res.headers['content-encoding'] ?? '').trim().toLowerCase();
  const decoder = encoding === 'gzip' || encoding === 'x-gzip' ? zlib.createGunzip()
    : encoding === 'deflate' ? zlib.createInflate()
      : encoding === 'br' ? zlib.createBrotliDecompress()
        : undefined;
  if (!decoder) return res;
  res.on('error', (err) => decoder.destroy(err));
  // A zlib stream emits its errors whether or not anyone listens; a body nobody reads (the SDK
  // leaves some unread) must not throw them at the process. Whoever reads it gets them.
  decoder.on('error', () => {});
  return res.pipe(decoder);
}

/**
 * A response's headers as the SDK and its errors read them (get, has, iteration in name order),
 * over Node's own object: copying them into a WHATWG Headers cost tens of µs per call.
 */
export class NodeHeaders {
  constructor(private readonly raw: IncomingHttpHeaders) {}

  get(name: string): string | null {
    const key = name.toLowerCase();
    const value = Object.hasOwn(this.raw, key) ? this.raw[key] : undefined;
    return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
  }

  has(name: string): boolean {
    return this.get(name) !== null;
  }

  *entries(): IterableIterator<[string, string]> {
    for (const name of Object.keys(this.raw).sort()) {
      const value = this.get(name);
      if (value !== null) yield [name, value];
    }
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  forEach(callback: (value: string, name: string, parent: Headers) => void): void {
    for (const [name, value] of this.entries()) callback(value, name, this as unknown as Headers);
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}

/** The parts of a Response the SDK and its error classes read, with the body left a Node stream. */
export class NodeResponse {
  readonly ok: boolean;
  readonly statusText: string;
  readonly headers: Headers;
  readonly redirected = false;
  readonly type = 'basic';
  private used = false;

  constructor(
    readonly status: number,
    readonly url: string,
    source: IncomingMessage,
    readonly body: Readable,
  ) {
    this.ok = status >= 200 && status < 300;
    this.statusText = source.statusMessage ?? '';
    this.headers = new NodeHeaders(source.headers) as unknown as Headers;
  }

  get bodyUsed(): boolean {
    return this.used;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.bytes();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  async bytes(): Promise<Uint8Array> {
    if (this.used) throw new TypeError('Body is unusable: Body has already been read');
    this.used = true;
    const parts: Buffer[] = [];
    for await (const part of this.body) parts.push(part as Buffer);
    return Buffer.concat(parts);
  }

  async text(): Promise<string> {
    return Buffer.from(await this.bytes()).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
}

function headersOf(init: RequestInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  // The SDK gives a Headers: read as it is (a copy of it cost tens of µs per call).
  const given = init?.headers;
  (given instanceof Headers ? given : new Headers(given)).forEach((value, name) => (out[name] = value));
  return out;
}

/** A fetch over node:http(s) for the SDK; see the file's comment. */
export const httpFetch = ((input: string | URL | Request, init?: RequestInit): Promise<unknown> => {
  const body = init?.body;
  const plainBody = body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  const agent = agents[url.protocol as keyof typeof agents];
  if (!agent || !plainBody || (typeof input === 'object' && !(input instanceof URL))) return fetch(input, init);
  const signal = init?.signal ?? undefined;
  const headers = headersOf(init);
  if (body !== undefined && body !== null) headers['content-length'] = String(Buffer.byteLength(body as string | Uint8Array));
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError());
    send(STALE_RETRIES);

    /** One try; `retries`: how many more a request may have that failed on a kept-alive connection the server had closed. */
    function send(retries: number): void {
      const request = (url.protocol === 'https:' ? https : http).request(url, { method: init?.method ?? 'GET', headers, agent });
      let response: Readable | undefined;
      let answered = false;
      const onAbort = () => {
        const err = abortError();
        request.destroy(err);
        response?.destroy(err);
        reject(err);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      request.once('error', (err: NodeJS.ErrnoException) => {
        signal?.removeEventListener('abort', onAbort);
        // A kept-alive connection the server closed while it was idle, just as this request went out
        // on it: reset before any answer (a server closing an idle connection reads nothing on it).
        // Sent again on another connection, as Node's documentation advises (request.reusedSocket);
        // nothing was answered, so nothing was delivered or charged. Any other failure, or a reset of
        // a new connection, is the caller's to see (maxRetries 0: a model API is never asked twice
        // for what may have been answered).
        if (request.reusedSocket && !answered && retries > 0 && !signal?.aborted && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) return send(retries - 1);
        reject(new TypeError('fetch failed', { cause: err }));
      });
      request.once('response', (res) => {
        answered = true;
        // A redirect (a base URL moved to https, or a trailing slash) is followed by the global
        // fetch, as the SDK's default fetch would: its rules for method, body and credentials.
        if (REDIRECTS.has(res.statusCode ?? 0) && res.headers.location) {
          signal?.removeEventListener('abort', onAbort);
          res.resume();
          return resolve(fetch(input, init));
        }
        response = decoded(res);
        // A body that ends, fails or is abandoned no longer listens for the caller's abort.
        response.once('close', () => signal?.removeEventListener('abort', onAbort));
        resolve(new NodeResponse(res.statusCode ?? 502, url.href, res, response));
      });
      request.end(body ?? undefined);
    }
  });
}) as unknown as typeof fetch;
