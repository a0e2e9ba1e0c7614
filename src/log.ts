// Structured logs (pino) with a request id. Cookies, authorization headers and bodies are never logged.
import crypto from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino, { type DestinationStream, type Logger } from 'pino';
import pinoHttp from 'pino-http';
import { colorsWanted, prettyLine, type LogFormat } from './log-format';
import { LogSink } from './log-sink';
import { logLinesDropped } from './metrics';

export type { Logger };

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

/** The id requestLogger gave the request: always a string (pino-http types it as string, number or object). */
export const requestIdOf = (req: IncomingMessage): string => req.id as string;

export function requestLogger(logger: Logger) {
  return pinoHttp({
    logger,
    // Keep a caller's id (from a proxy) when it is harmless to log, else make one.
    genReqId(req: IncomingMessage, res: ServerResponse) {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : crypto.randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    serializers: {
      req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  });
}
