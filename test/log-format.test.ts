// What `tokenchat serve` prints: in a terminal (or LOG_FORMAT=pretty) a first line with the
// address, the data and the model, then lines in words; to a pipe (or LOG_FORMAT=json) JSON lines,
// as a log collector reads them. The real server in its own process (`npm run build` first).
import fs from 'node:fs';
import http from 'node:http';
import { PassThrough } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { bannerLine } from '../src/log-format';
import { LogSink } from '../src/log-sink';
import { until } from './chat-helpers';
import { ON_POSTGRES, tempDir } from './helpers';
import { databaseFor, serve, terminate, type Spawned } from './spawned-server';


function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0))).on('error', reject);
  });
}

/** Starts the server, asks it for /healthz, and stops it: every line it wrote to stdout. */
async function linesOf(env: Record<string, string>, opts: { terminal?: boolean } = {}): Promise<{ lines: string[]; url: string; dataDir: string }> {
  const dataDir = tempDir();
  const db = databaseFor(dataDir);
  let srv: Spawned | undefined;
  try {
    srv = await serve(dataDir, { ...db.env, ...env }, opts);
    expect(await get(`${srv.url}/healthz`)).toBe(200);
    // its line read before the signal: script passes on nothing written after it
    await until('the request\'s log line', () => srv!.logs.some((l) => l.includes('/healthz')));
    const exit = await terminate(srv, 15_000);
    expect(exit?.code).toBe(0);
    // script's own words as it passes on the signal are not the server's
    const lines = srv.logs.map(stripVTControlCharacters).filter((l) => !l.startsWith('Session terminated'));
    return { lines, url: srv.url, dataDir };
  } finally {
    if (srv && srv.child.exitCode === null) srv.child.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
    await db.drop();
  }
}

const isJson = (line: string) => {
  try {
    return typeof JSON.parse(line) === 'object';
  } catch {
    return false;
  }
};

/** The first line a person sees: where to point a browser, where the data lives, what answers. */
function expectBanner(line: string, url: string, dataDir: string) {
  const data = ON_POSTGRES ? 'PostgreSQL at 127.0.0.1:5432/' : `${dataDir}, SQLite`;
  expect(line.startsWith(`tokenchat running on ${url}  (data: ${data}`)).toBe(true);
  expect(line.endsWith('; model: offline demo model)')).toBe(true);
}

describe('tokenchat serve on stdout', () => {
  test('LOG_FORMAT=pretty: the first line says where it runs, its data and its model; then lines in words, a request as "GET /healthz 200", no JSON', async () => {
    const { lines, url, dataDir } = await linesOf({ LOG_FORMAT: 'pretty' });
    expectBanner(lines[0]!, url, dataDir);
    expect(lines.filter(isJson)).toEqual([]);
    expect(lines.some((l) => /^\[[\d:.]+\] WARN: no model provider is set/.test(l))).toBe(true);
    expect(lines.some((l) => /^\[[\d:.]+\] INFO: GET \/healthz 200 in [\d.]+ ms$/.test(l))).toBe(true);
    expect(lines.some((l) => /^\[[\d:.]+\] INFO: tokenchat stopped$/.test(l))).toBe(true);
  }, 30_000);

  test('LOG_FORMAT=json: every line is a JSON object, "tokenchat listening" with its url among them', async () => {
    const { lines, url } = await linesOf({ LOG_FORMAT: 'json' });
    expect(lines.filter((l) => !isJson(l))).toEqual([]);
    expect(lines.map((l) => JSON.parse(l) as { msg: string; url?: string }).find((e) => e.msg === 'tokenchat listening')?.url).toBe(url);
  }, 30_000);

  test('LOG_FORMAT unset, stdout a pipe (a log collector): JSON lines only', async () => {
    const { lines } = await linesOf({});
    expect(lines.length).toBeGreaterThan(3);
    expect(lines.filter((l) => !isJson(l))).toEqual([]);
  }, 30_000);

  test('LOG_FORMAT unset, stdout a terminal: the first line says where it runs, then lines in words', async () => {
    const { lines, url, dataDir } = await linesOf({}, { terminal: true });
    expectBanner(lines[0]!, url, dataDir);
    expect(lines.filter(isJson)).toEqual([]);
    expect(lines.some((l) => /^\[[\d:.]+\] INFO: GET \/healthz 200 in [\d.]+ ms$/.test(l))).toBe(true);
  }, 30_000);

  test('LOG_FORMAT=json in a terminal: the same first line, then JSON lines', async () => {
    const { lines, url, dataDir } = await linesOf({ LOG_FORMAT: 'json' }, { terminal: true });
    expectBanner(lines[0]!, url, dataDir);
    expect(lines.slice(1).filter((l) => !isJson(l))).toEqual([]);
  }, 30_000);
});

describe('the first line', () => {
  const where = { dataDir: '/srv/app/data', databaseUrl: undefined };

  test('names the data directory from where the server was started, and the models served', () => {
    expect(bannerLine('http://127.0.0.1:7860', where, { demo: true, chatModels: ['demo'] }, '/srv/app'))
      .toBe('tokenchat running on http://127.0.0.1:7860  (data: ./data, SQLite; model: offline demo model)\n');
    expect(bannerLine('http://[::1]:80', where, { demo: false, chatModels: ['gpt-4o-mini'] }, '/home/me'))
      .toBe('tokenchat running on http://[::1]:80  (data: /srv/app/data, SQLite; model: gpt-4o-mini)\n');
    expect(bannerLine('http://h:1', where, { demo: false, chatModels: ['a', 'b', 'c', 'd', 'e'] }, '/srv/app'))
      .toBe('tokenchat running on http://h:1  (data: ./data, SQLite; models: a, b, c and 2 more)\n');
  });

  test('names a PostgreSQL database without its password', () => {
    const line = bannerLine('http://h:1', { dataDir: '/d', databaseUrl: 'postgres://tc:s3cret@db.example:5432/tokenchat?sslmode=require' }, { demo: true, chatModels: [] });
    expect(line).toContain('(data: PostgreSQL at db.example:5432/tokenchat; model: offline demo model)');
    expect(line).not.toContain('s3cret');
  });
});

describe('LogSink holding lines for the first one', () => {
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  /** A sink of `limit` characters on a stream whose every byte is kept in `text()`. */
  function sinkOf(limit: number) {
    const out = new PassThrough();
    let written = '';
    out.setEncoding('utf8').on('data', (d: string) => (written += d));
    return { sink: new LogSink(out, limit), text: () => written };
  }

  test('lines logged while held wait, bounded as ever, and go out after the one given to lead', async () => {
    const { sink, text } = sinkOf(20);
    sink.holdFor(60_000);
    sink.write('one 5678\n');
    sink.write('two 5678\n');
    sink.write('three 78\n'); // past the limit: the oldest is dropped
    await tick();
    await tick();
    expect(text()).toBe('');
    sink.lead('first\n');
    expect(await sink.flushWithin(5000)).toBe(true);
    expect(text()).toBe('first\ntwo 5678\nthree 78\n');
    expect(sink.dropped).toBe(1);
  });

  test('a hold that nobody ends ends by itself', async () => {
    const { sink, text } = sinkOf(1000);
    sink.holdFor(10);
    sink.write('start-up is slow\n');
    expect(await sink.flushWithin(5000)).toBe(true);
    expect(text()).toBe('start-up is slow\n');
  });
});
