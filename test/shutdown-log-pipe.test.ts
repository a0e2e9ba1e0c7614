// A log reader that stops reading (stdout a pipe left open, never read): the lines waiting stay
// within LOG_BUFFER_LIMIT, the oldest dropped and counted (/metrics, a last line on stderr), and
// SIGTERM still ends the process by SHUTDOWN_TIMEOUT_MS. The real server in its own process
// (dist/cli/main.js; `npm run build` first).
import http from 'node:http';
import fs from 'node:fs';
import { tempDir } from './helpers';
import { databaseFor, serve, terminate, type Spawned } from './spawned-server';

const DEADLINE_MS = 1500;
const MARGIN_MS = 2500;
/** Far more log than the pipe (some 300 KiB with the reader's buffer) and the 64 KiB limit hold. */
const REQUESTS = 3000;

function get(agent: http.Agent, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** The server in its own process with `env` (and `opts`), and a keep-alive agent for `fn`; both gone afterwards, whatever `fn` did. */
async function withServer(env: Record<string, string>, opts: Parameters<typeof serve>[2], fn: (srv: Spawned, agent: http.Agent) => Promise<void>): Promise<void> {
  const dataDir = tempDir();
  const db = databaseFor(dataDir);
  const srv = await serve(dataDir, { ...db.env, SHUTDOWN_TIMEOUT_MS: String(DEADLINE_MS), ...env }, opts);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  try {
    await fn(srv, agent);
  } finally {
    agent.destroy();
    if (srv.child.exitCode === null) srv.child.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
    await db.drop();
  }
}

test('stdout not read: SIGTERM exits by the deadline, and every request line either reached the reader or was counted as dropped', async () => {
  await withServer({ LOG_BUFFER_LIMIT: '64kb', METRICS: 'true' }, { readStdout: false }, async (srv, agent) => {
    let sent = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (sent < REQUESTS) {
        sent++;
        await get(agent, `${srv.url}/healthz`);
      }
    }));
    const metrics = await get(agent, `${srv.url}/metrics`);
    agent.destroy();

    const exit = await terminate(srv, DEADLINE_MS + 10_000);
    if (!exit) throw new Error(`the server had not exited ${DEADLINE_MS + 10_000} ms after SIGTERM (deadline ${DEADLINE_MS} ms)`);
    expect(exit.code).toBe(0);
    expect(exit.afterMs).toBeLessThan(DEADLINE_MS + MARGIN_MS);
    const counted = Number(/^tokenchat_log_lines_dropped_total (\d+)$/m.exec(metrics)?.[1]);
    expect(counted).toBeGreaterThan(0);

    // Its last word, on stderr: how many lines were dropped, and how many were still waiting.
    const last = JSON.parse(srv.stderr().trim().split('\n').pop()!) as { msg: string; dropped: number; unwritten: number };
    expect(last.msg).toMatch(/log lines lost/);
    expect(last.dropped).toBeGreaterThanOrEqual(counted);
    // Bounded: what waited at the end fits in the limit (lines of some 150 characters and more).
    expect(last.unwritten).toBeLessThan(2 * (64 * 1024) / 150);
    // What the pipe held, read now: each request's line arrived, or is among those counted.
    const lines = [...srv.logs, ...(await srv.unread()).split('\n')];
    const arrived = lines.filter((l) => l.includes('"msg":"request completed"')).length;
    expect(arrived + last.dropped + last.unwritten).toBeGreaterThanOrEqual(REQUESTS + 1); // + /metrics
    expect(arrived + last.dropped + last.unwritten).toBeLessThan(REQUESTS + 20); // the rest: shutdown's own lines
  });
}, 60_000);

test('stdout closed (the reader is gone: every write fails with EPIPE): the server goes on answering, and SIGTERM still exits 0', async () => {
  await withServer({}, {}, async (srv, agent) => {
    srv.child.stdout!.destroy();
    for (let i = 0; i < 50; i++) expect(await get(agent, `${srv.url}/healthz`)).toContain('ok');
    const exit = await terminate(srv, DEADLINE_MS + 10_000);
    expect(exit?.code).toBe(0);
  });
}, 60_000);
