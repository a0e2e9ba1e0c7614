// Two large form bodies at a time per user, the rest refused unread (http/large-bodies.ts): a flood
// of large posts by one user is parsed two at a time, and cannot hold up another user's pages and
// answers; a send beside the estimate of the same long message still goes through.
import http from 'node:http';
import { CookieAccessInfo } from 'cookiejar';
import { composer, newUser, type User } from './chat-helpers';
import { startTestServer, type TestServer } from './helpers';

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', LOGIN_RATE_LIMIT_PER_IP: '10000' }); // estimates call no model
});
afterAll(async () => srv.close());

const cookieOf = (user: User) =>
  (user.agent as unknown as { jar: { getCookies(a: CookieAccessInfo): { toValueString(): string } } }).jar
    .getCookies(new CookieAccessInfo(new URL(srv.url).hostname, '/', false)).toValueString();

/** Starts a POST of `body` to /estimate as `user` (or no one), sending only its first half until `finish` is called. */
function halfSent(user: User | undefined, body: string) {
  let finish = () => {};
  const answer = new Promise<{ status: number; text: string }>((resolve) => {
    const req = http.request(new URL('/estimate', srv.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), 'hx-request': 'true', ...(user && { cookie: cookieOf(user) }) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', () => resolve({ status: 0, text: '' }));
    req.write(body.slice(0, body.length / 2));
    finish = () => req.end(body.slice(body.length / 2));
  });
  return { status: answer.then((a) => a.status), text: answer.then((a) => a.text), finish: () => finish() };
}

const estimateOf = async (user: User) => new URLSearchParams({ ...(await composer(user)), message: 'x '.repeat(50_000) }).toString();

test('a third large body from the same user while two are still arriving: 429 at once, unread; another user\'s goes through', async () => {
  const alice = await newUser(srv);
  const bob = await newUser(srv);
  const first = halfSent(alice, await estimateOf(alice));
  const second = halfSent(alice, await estimateOf(alice));
  await new Promise((resolve) => setTimeout(resolve, 200)); // both are being read
  const third = halfSent(alice, await estimateOf(alice));
  expect(await third.status).toBe(429); // answered with only half of it sent
  expect(await third.text).toContain('Too many requests');
  const other = halfSent(bob, await estimateOf(bob));
  other.finish();
  expect(await other.status).toBe(200);
  // One after the other: the estimate counts one estimate of a user at a time, so two bodies
  // finished together could be answered in either order.
  first.finish();
  expect(await first.status).toBe(200);
  second.finish();
  expect(await second.status).toBe(200); // its place was held while it waited, and it is read now
  // Her place is free again once the first was read.
  const next = halfSent(alice, await estimateOf(alice));
  next.finish();
  expect(await next.status).toBe(200);
});

test('a large body from someone not signed in: 413, unread', async () => {
  const anonymous = halfSent(undefined, 'message=' + 'x'.repeat(100_000));
  expect(await anonymous.status).toBe(413);
});

test('large estimates one after another: past 2 MiB a minute, 429 unread with the estimate\'s own words; another user is unaffected', async () => {
  const chinese = async (user: User) => new URLSearchParams({ ...(await composer(user)), message: '字'.repeat(100_000) }).toString(); // about 900 KB
  const carol = await newUser(srv);
  for (let i = 0; i < 2; i++) {
    const estimate = halfSent(carol, await chinese(carol));
    estimate.finish();
    expect(await estimate.status).toBe(200);
  }
  const third = halfSent(carol, await chinese(carol)); // half sent: refused before it is read
  expect(await third.status).toBe(429);
  expect(await third.text).toBe('Too many estimates in the last minute; the next one comes shortly. Sending is not affected.');
  const dave = await newUser(srv);
  const theirs = halfSent(dave, await chinese(dave));
  theirs.finish();
  expect(await theirs.status).toBe(200);
}, 30_000);
