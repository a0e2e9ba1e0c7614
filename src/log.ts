// Structured logs (pino) with a request id. Cookies, authorization headers and bodies are never logged.
import crypto from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino, { type Logger } from 'pino';
import pinoHttp from 'pino-http';

export type { Logger };

/**
 * `buffered`: lines go to stdout from a buffer, written while the server goes on (a write per
 * line, synchronously, cost about a millisecond of each request under load); what is buffered is
 * written out synchronously when the process exits, as pino does for such destinations.
 */
export function createLogger(level: string, opts: { buffered?: boolean } = {}): Logger {
  return pino({
    level,
    redact: {
      paths: ['req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]', '*.password', '*.secret',
        // the model API key, wherever a config or options object is logged
        'openaiApiKey', '*.openaiApiKey', 'apiKey', '*.apiKey', 'OPENAI_API_KEY', '*.OPENAI_API_KEY'],
      censor: '[redacted]',
    },
  }, opts.buffered ? pino.destination({ dest: 1, sync: false }) : undefined);
}

const SAFE_REQUEST_ID = /^[\w.-]{1,64}$/;

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
