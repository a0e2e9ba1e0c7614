import net from 'node:net';
import request from 'supertest';
import { newNonce } from '../src/http/security';
import { register, startTestServer, type TestServer } from './helpers';

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({ BODY_LIMIT: '16kb' });
});
afterAll(() => srv.close());

describe('security headers', () => {
  test('GET /login has a CSP without unsafe-inline or unsafe-eval, and helmet headers', async () => {
    const res = await request(srv.url).get('/login');
    const csp = res.headers['content-security-policy'];
    expect(csp).toContain("default-src 'self'");
    expect(csp).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]{24}'/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('same-origin');
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const nonce = /'nonce-([^']+)'/.exec(csp)![1];
    expect(res.text).toContain(`nonce="${nonce}"`);
    expect(res.text).not.toMatch(/<script(?![^>]*\bsrc=)/); // no inline script
    expect(res.text).not.toMatch(/\sstyle="/); // no inline style
  });

  test('each response gets a fresh nonce', async () => {
    const a = (await request(srv.url).get('/login')).headers['content-security-policy'];
    const b = (await request(srv.url).get('/login')).headers['content-security-policy'];
    expect(a).not.toBe(b);
  });

  test('nonces come from a pool of random bytes, 16 each, never one twice, across the pool refills', () => {
    const nonces = Array.from({ length: 2000 }, () => newNonce()); // the pool holds 256
    expect(new Set(nonces).size).toBe(2000);
    for (const n of nonces) expect(Buffer.from(n, 'base64')).toHaveLength(16);
    // Not all zero bytes (a pool not filled), and its bytes vary as random ones do.
    const bytes = Buffer.concat(nonces.map((n) => Buffer.from(n, 'base64')));
    expect(new Set(bytes).size).toBe(256);
  });

  test('session and CSRF cookies are HttpOnly and SameSite=Lax; Secure behind a TLS proxy', async () => {
    const res = await srv.agent().post('/register').send({ username: 'cookies', password: 'long enough pw' });
    const sid = (res.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('tc.sid='))!;
    expect(sid).toMatch(/HttpOnly/);
    expect(sid).toMatch(/SameSite=Lax/);
    expect(sid).not.toMatch(/Secure/);
    const behindTls = await startTestServer({ TRUST_PROXY: 'loopback' });
    try {
      const tls = await request(behindTls.url).post('/register').set('X-Forwarded-Proto', 'https').send({ username: 'tlsuser', password: 'long enough pw' });
      const secure = (tls.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('tc.sid='))!;
      expect(secure).toMatch(/; Secure/);
    } finally {
      await behindTls.close();
    }
  });

  test('htmx is served from node_modules', async () => {
    const res = await request(srv.url).get('/vendor/htmx/htmx.min.js');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/javascript/);
  });
});

describe('bad requests never crash the server', () => {
  test('malformed JSON gets 400 as JSON', async () => {
    const res = await request(srv.url).post('/login').set('Content-Type', 'application/json').send('{"username": ');
    expect(res.status).toBe(400);
    expect(res.body.error.status).toBe(400);
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.js|SyntaxError/);
  });

  test('a body over BODY_LIMIT gets 413', async () => {
    const big = { username: 'x', password: 'y'.repeat(20 * 1024) };
    expect((await request(srv.url).post('/login').send(big)).status).toBe(413);
    const form = await request(srv.url).post('/login').type('form').send(`password=${'y'.repeat(20 * 1024)}`);
    expect(form.status).toBe(413);
    expect(form.text).toContain('That request is too large.');
  });

  test('wrong content types get 415', async () => {
    for (const type of ['text/plain', 'application/xml', 'multipart/form-data; boundary=x']) {
      const res = await request(srv.url).post('/login').set('Content-Type', type).send('hello');
      expect(res.status).toBe(415);
    }
  });

  test('JSON that is not an object gets a clear 401/4xx, not a crash', async () => {
    for (const body of ['[]', '"text"', '123', 'null', '{"username": {"$ne": 1}, "password": ["x"]}']) {
      const res = await request(srv.url).post('/login').set('Content-Type', 'application/json').send(body);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
  });

  test('a client that drops mid-body leaves the server up', async () => {
    const { port } = new URL(srv.url);
    await new Promise<void>((resolve) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write('POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"user');
        socket.destroy();
        resolve();
      });
    });
    expect((await request(srv.url).get('/healthz')).status).toBe(200);
  });

  test('after all of that the server still answers', async () => {
    expect((await request(srv.url).get('/healthz')).body).toEqual({ status: 'ok' });
    expect((await register(srv.agent(), 'stillup')).status).toBe(303);
  });
});

describe('errors', () => {
  test('an unknown page is a 404 in the site layout', async () => {
    const res = await request(srv.url).get('/no/such/page');
    expect(res.status).toBe(404);
    expect(res.text).toContain('Page not found.');
    expect(res.text).toContain('<header class="site-header">');
  });

  test('a JSON client gets 404 as JSON', async () => {
    const res = await request(srv.url).get('/no/such/page').set('Accept', 'application/json');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { status: 404, message: 'Page not found.' } });
  });

  test('GET does not change state: GET /logout is a 404', async () => {
    expect((await request(srv.url).get('/logout')).status).toBe(404);
  });
});

describe('GET /healthz', () => {
  test('200 when the database answers, 503 when it does not', async () => {
    const s = await startTestServer();
    try {
      expect((await request(s.url).get('/healthz')).status).toBe(200);
      await s.database.close(); // SQLite's handle closed, or PostgreSQL's pool ended: either way no database answers
      const res = await request(s.url).get('/healthz');
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ status: 'unavailable', error: 'the database did not answer within 1500 ms' });
    } finally {
      await s.close().catch(() => undefined);
    }
  });
});
