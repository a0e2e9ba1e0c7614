import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tempDir } from './helpers';

const CLI = path.join(__dirname, '..', 'dist', 'cli.js');

function serve(dataDir: string): Promise<{ child: ChildProcess; port: number; logs: string[] }> {
  const child = spawn('node', [CLI, 'serve'], { env: { PATH: process.env.PATH!, DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'info' } });
  const logs: string[] = [];
  return new Promise((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n').filter(Boolean)) {
        logs.push(line);
        const entry = JSON.parse(line) as { msg: string; url?: string };
        if (entry.msg === 'tokenchat listening') resolve({ child, port: Number(new URL(entry.url!).port), logs });
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited early with ${code}`)));
  });
}

test('SIGTERM lets the request in flight finish, then closes the databases and exits 0', async () => {
  const dataDir = tempDir();
  const { child, port, logs } = await serve(dataDir);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const body = JSON.stringify({ username: 'nobody', password: 'whatever pw' });
  socket.write(`POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
  socket.write(body.slice(0, 5));
  await new Promise((resolve) => setTimeout(resolve, 100));
  child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 200));
  const response = new Promise<string>((resolve) => {
    let text = '';
    socket.setEncoding('utf8').on('data', (d: string) => (text += d)).on('close', () => resolve(text));
  });
  socket.write(body.slice(5));
  expect(await response).toMatch(/^HTTP\/1\.1 401 /);
  expect(await exited).toBe(0);
  const messages = logs.map((l) => (JSON.parse(l) as { msg: string }).msg);
  expect(messages).toContain('shutting down');
  expect(messages[messages.length - 1]).toBe('tokenchat stopped');
  // The data directory holds the databases and the generated secret, and nothing logged a password.
  expect(fs.readdirSync(dataDir).sort()).toEqual(expect.arrayContaining(['session-secret', 'sessions.sqlite', 'tokenchat.sqlite']));
  expect(logs.join('\n')).not.toContain('whatever pw');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('two servers starting on one data directory at once agree on one secret and migrate once', async () => {
  const dataDir = tempDir();
  const [a, b] = await Promise.all([serve(dataDir), serve(dataDir)]);
  const secret = fs.readFileSync(path.join(dataDir, 'session-secret'), 'utf8');
  expect(secret.length).toBeGreaterThanOrEqual(32);
  const applied = [...a.logs, ...b.logs].filter((l) => l.includes('migrations applied'));
  expect(applied).toHaveLength(1);
  for (const { child } of [a, b]) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
});
