// How the server's log reads on stdout. A terminal is read by a person: one plain first line with
// the address, then a line per event in words (pino-pretty). Anything else (a pipe, a file, a log
// collector) gets JSON lines, one object each, as before. LOG_FORMAT forces either.
import path from 'node:path';
import { prettyFactory } from 'pino-pretty';

export type LogFormat = 'json' | 'pretty';

/** `auto`: pretty when stdout is a terminal. */
export function logFormatFor(setting: 'auto' | LogFormat, stdoutIsTTY: boolean): LogFormat {
  return setting === 'auto' ? (stdoutIsTTY ? 'pretty' : 'json') : setting;
}

/** Colours only for a terminal that takes them (https://no-color.org). */
export function colorsWanted(stdoutIsTTY: boolean, env: Record<string, string | undefined> = process.env): boolean {
  return stdoutIsTTY && !env.NO_COLOR && env.TERM !== 'dumb';
}

interface RequestLine {
  req?: { method?: string; url?: string };
  res?: { statusCode?: number };
  responseTime?: number;
}

/**
 * pino's JSON line, as one readable line: time, level, message, then the other fields as compact
 * JSON (an error keeps its stack on the lines below). A request reads `GET /c/4 200 in 12 ms`.
 */
export function prettyLine(colorize: boolean): (line: string) => string {
  return prettyFactory({
    colorize,
    translateTime: 'SYS:HH:MM:ss.l',
    singleLine: true,
    ignore: 'pid,hostname,req,res,responseTime',
    messageFormat: (log, messageKey) => {
      const given = log[messageKey]; // pino takes any message: one that is not a string reads as JSON
      const msg = typeof given === 'string' ? given : given === undefined || given === null ? '' : JSON.stringify(given);
      const { req, res, responseTime } = log as RequestLine;
      if (!req) return msg;
      const request = `${req.method} ${req.url}`;
      if (!res) return `${msg} (${request})`; // a line logged while the request ran
      const answered = `${request} ${res.statusCode} in ${responseTime} ms`;
      return msg === 'request completed' ? answered : `${msg}: ${answered}`;
    },
  });
}

/** Where the data is kept, with no password: a DATABASE_URL may hold one. */
function dataPlace(dataDir: string, databaseUrl: string | undefined, cwd: string): string {
  if (databaseUrl) {
    const url = new URL(databaseUrl);
    return `PostgreSQL at ${url.host}${url.pathname}`;
  }
  const relative = path.relative(cwd, dataDir);
  const shown = relative === '' ? '.' : relative.startsWith('..') || path.isAbsolute(relative) ? dataDir : `.${path.sep}${relative}`;
  return `${shown}, SQLite`;
}

function modelsInUse(demo: boolean, chatModels: readonly string[]): string {
  if (demo) return 'model: offline demo model';
  if (chatModels.length === 1) return `model: ${chatModels[0]}`;
  const named = chatModels.slice(0, 3).join(', ');
  return `models: ${named}${chatModels.length > 3 ? ` and ${chatModels.length - 3} more` : ''}`;
}

/** The terminal's first line: where to point a browser, where the data lives, what answers. */
export function bannerLine(
  url: string,
  where: { dataDir: string; databaseUrl: string | undefined },
  serving: { demo: boolean; chatModels: readonly string[] },
  cwd = process.cwd(),
): string {
  return `tokenchat running on ${url}  (data: ${dataPlace(where.dataDir, where.databaseUrl, cwd)}; ${modelsInUse(serving.demo, serving.chatModels)})\n`;
}
