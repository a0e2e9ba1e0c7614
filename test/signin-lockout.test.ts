// Sign-in throttling must not let anyone lock an account out: a known device (a signed device
// cookie) is not subject to the per-username limit, and a new device waits a short, capped,
// growing delay instead of a hard 429.
import request from 'supertest';
import { MAX_DELAYED_PER_USERNAME } from '../src/http/throttle';
import { login, register, setCookie, startTestServer, type Agent, type TestServer } from './helpers';

const ATTACKER = '203.0.113.7';
const PASSWORD = 'correct horse battery';

/** A failed sign-in as `username` from the attacker's address (JSON: no CSRF token needed). */
function attempt(srv: TestServer, username: string, password = 'guess guess guess') {
  return request(srv.url).post('/login').set('X-Forwarded-For', ATTACKER).send({ username, password });
}

async function failTimes(srv: TestServer, username: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) expect((await attempt(srv, username)).status).toBe(401);
}

/** Signs in and out with a fresh browser, so it keeps only the device cookie. */
async function knownDevice(srv: TestServer, username: string): Promise<{ agent: Agent; cookie: string }> {
  const agent = srv.agent();
  const res = await login(agent, username);
  expect(res.status).toBe(303);
  const cookie = setCookie(res, 'tc.device');
  expect(cookie).toBeTruthy();
  await agent.post('/logout').send({});
  return { agent, cookie: cookie! };
}

describe('per-username lock with a long delay: a known device is exempt', () => {
  let srv: TestServer;
  beforeAll(async () => {
    // A new device would wait a minute once the 20 failures are reached.
    srv = await startTestServer({ TRUST_PROXY: 'loopback', LOGIN_RATE_LIMIT_PER_IP: '100', LOGIN_RATE_LIMIT_PER_USER: '20', LOGIN_DELAY_MS: '60000', LOGIN_DELAY_MAX_MS: '60000' });
    expect((await register(srv.agent(), 'admin')).status).toBe(303);
    expect((await register(srv.agent(), 'mallory')).status).toBe(303);
  });
  afterAll(() => srv.close());

  test('POST /login sets a signed, HttpOnly, SameSite=Lax device cookie for a year; Secure over HTTPS', async () => {
    const agent = srv.agent();
    const _csrf = /name="_csrf" value="([^"]+)"/.exec((await agent.get('/login')).text)![1];
    const res = await agent.post('/login').set('X-Forwarded-Proto', 'https').type('form').send({ _csrf, username: 'admin', password: PASSWORD });
    expect(res.status).toBe(303);
    const raw = (res.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('tc.device='))!;
    expect(raw).toMatch(/; HttpOnly/);
    expect(raw).toMatch(/; SameSite=Lax/);
    expect(raw).toMatch(/; Secure/);
    expect(raw).toMatch(/; Max-Age=31536000/);
    const plain = await login(srv.agent(), 'admin');
    const rawPlain = (plain.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('tc.device='))!;
    expect(rawPlain).not.toMatch(/; Secure/);
  });

  test(
    'an attacker fails 20 times as admin and fills the waiting room; the admin on a known device signs in at once, forged or borrowed cookies do not',
    async () => {
      const device = await knownDevice(srv, 'admin');
      const other = await knownDevice(srv, 'mallory');
      await failTimes(srv, 'admin', 20);

      // The next attempts from a new device wait (a minute here); one more than the cap is refused.
      const waiting = Array.from({ length: MAX_DELAYED_PER_USERNAME + 1 }, () => attempt(srv, 'admin'));
      const first = await Promise.race(waiting.map((r) => r.then((res) => res, () => undefined)));
      expect(first?.status).toBe(429);
      expect(Number(first?.headers['retry-after'])).toBeGreaterThan(0);

      // The waiting room is full: without a valid cookie for admin there is no way around it...
      const forged = `${device.cookie.slice(0, -2)}xx`;
      const [mac] = device.cookie.split('.').slice(-1);
      const reassigned = `${other.cookie.split('.')[0]}.${device.cookie.split('.').slice(1, -1).join('.')}.${mac}`;
      for (const cookie of [forged, other.cookie, reassigned, 'garbage']) {
        const res = await request(srv.url).post('/login').set('Cookie', `tc.device=${cookie}`).send({ username: 'admin', password: PASSWORD });
        expect(res.status).toBe(429);
      }
      // ...but the admin's own browser gets straight in (well inside this test's 10 s, the delay is 60 s).
      const res = await login(device.agent, 'admin');
      expect(res.status).toBe(303);
      expect((await device.agent.get('/')).text).toContain('Signed in as admin.');
      // mallory's device is exempt for mallory, who is not under attack anyway.
      expect((await login(other.agent, 'mallory')).status).toBe(303);

      for (const r of waiting) r.abort();
    },
    10_000,
  );
});

describe('per-username delay with a small cap: the right password still gets in from a new device', () => {
  let srv: TestServer;
  const DELAY_CAP = 200;
  beforeAll(async () => {
    srv = await startTestServer({ TRUST_PROXY: 'loopback', LOGIN_RATE_LIMIT_PER_IP: '100', LOGIN_RATE_LIMIT_PER_USER: '5', LOGIN_DELAY_MS: '10', LOGIN_DELAY_MAX_MS: String(DELAY_CAP) });
    expect((await register(srv.agent(), 'admin')).status).toBe(303);
    expect((await register(srv.agent(), 'mallory')).status).toBe(303);
  });
  afterAll(() => srv.close());

  test('after 20 failures from another address, the admin signs in from a new device after a capped delay', async () => {
    await failTimes(srv, 'admin', 20);
    const started = Date.now();
    const res = await login(srv.agent(), 'admin');
    expect(res.status).toBe(303);
    expect(Date.now() - started).toBeGreaterThanOrEqual(DELAY_CAP - 5); // it did wait, but got in
    // a wrong password is still just a wrong password, as a normal form answer
    const wrong = await login(srv.agent(), 'admin', 'still wrong password');
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain('Wrong username or password.');
  });

  test('a forged cookie or another user’s device cookie gives no exemption: the right password waits the delay', async () => {
    const other = await knownDevice(srv, 'mallory');
    await failTimes(srv, 'admin', 6);
    for (const cookie of [other.cookie, `${other.cookie.slice(0, -2)}xx`]) {
      const started = Date.now();
      const res = await request(srv.url).post('/login').set('Cookie', `tc.device=${cookie}`).send({ username: 'admin', password: PASSWORD });
      expect(res.status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(DELAY_CAP - 5);
    }
  });

  test('a device cookie that keeps failing loses its exemption', async () => {
    await register(srv.agent(), 'ivan');
    const device = await knownDevice(srv, 'ivan');
    // failures from a known device count against that device, not the username...
    for (let i = 0; i < 5; i++) expect((await login(device.agent, 'ivan', 'wrong password')).status).toBe(401);
    // ...until it has used up the per-username allowance: then it is a device like any other
    await failTimes(srv, 'ivan', 10);
    const started = Date.now();
    expect((await login(device.agent, 'ivan')).status).toBe(303);
    expect(Date.now() - started).toBeGreaterThanOrEqual(DELAY_CAP - 5);
  });
});
