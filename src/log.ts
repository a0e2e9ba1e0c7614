// Structured logs (pino) with a request id. Cookies, authorization headers and bodies are never logged.
import crypto from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino, { type DestinationStream, type Logger } from 'pino';
import { colorsWanted, prettyLine, type LogFormat } from './log-format';
import { LogSink } from './log-sink';
import { logLinesDropped } from './metrics';

export type { Logger };

declare module 'node:http' {
  interface IncomingMessage {
    /** The request's id, from requestLogger: the caller's X-Request-Id when harmless to log, else a new UUID. */
    id: string;
  }
}

/** `destination`: where the JSON lines go; pino's own synchronous stdout when not given. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    redact: {
      paths: ['req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]', '*.password', '*.secret',
        // the model API key, wherever a config or options object is logged
        'openaiApiKey', '*.openaiApiKey', 'apiKey', '*.apiKey', 'OPENAI_API_KEY', '*.OPENAI_API_KEY'],
      censor: '[redacted]',
    },
  }, destination);
}

/**
 * The server's logger: lines go to stdout from a bounded buffer, written while the server goes on
 * (a synchronous write per line cost about a millisecond of each request under load). Past
 * `bufferLimit` characters waiting, the oldest lines are dropped and counted (log-sink.ts).
 * `pretty`: each line is put in words before it waits, so it is bounded, and never blocks, the same.
 */
export function serverLogger(level: string, bufferLimit: number, format: LogFormat = 'json'): { logger: Logger; sink: LogSink } {
  const sink = new LogSink(process.stdout, bufferLimit, {
    onDrop: (lines) => logLinesDropped.inc(lines),
    onGap: (lines) => logger.warn({ dropped: lines }, 'log lines were dropped before this one: stdout was not read fast enough'),
  });
  let destination: DestinationStream = sink;
  if (format === 'pretty') {
    const pretty = prettyLine(colorsWanted(Boolean(process.stdout.isTTY)));
    destination = { write: (line: string) => sink.write(pretty(line)) };
  }
  const logger = createLogger(level, destination);
  return { logger, sink };
}

const SAFE_REQUEST_ID = /^[\w.-]{1,64}$/;

/** The id requestLogger gave the request. */
export const requestIdOf = (req: IncomingMessage): string => req.id;

/**
 * Gives each request its id (X-Request-Id) and logs its answer, as pino-http did with these
 * options and in the same line (`req`, `res`, `responseTime`; "request completed", "request
 * aborted" or, for a 5xx, "request errored" with its `err`), for a fraction of its cost: no child
 * logger per request (pino-http made one, serialising and redacting the request into it, on every
 * request, even when the line was not logged), and nothing but the id when the level is off.
 */
export function requestLogger(logger: Logger) {
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    // Keep a caller's id (from a proxy) when it is harmless to log, else make one.
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : crypto.randomUUID();
    res.setHeader('X-Request-Id', id);
    req.id = id;
    const started = Date.now();
    const { method, url } = req;
    const answered = () => {
      res.removeListener('close', answered);
      res.removeListener('finish', answered);
      const level = res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      const line = { req: { id, method, url }, res: { statusCode: res.headersSent ? res.statusCode : null } };
      const responseTime = Date.now() - started;
      if (res.statusCode >= 500) return logger[level]({ ...line, err: new Error(`failed with status code ${res.statusCode}`), responseTime }, 'request errored');
      logger[level]({ ...line, responseTime }, !req.readableAborted && res.writableEnded ? 'request completed' : 'request aborted');
    };
    res.on('close', answered);
    res.on('finish', answered);
    next();
  };
}
