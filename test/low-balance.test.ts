// Too few tokens to send (issue 26: 7): a warning whose way out is a link to the Recharge page,
// offering to buy tokens only where payments are set up, and a code everywhere; in both languages.
import fs from 'node:fs';
import path from 'node:path';
import { startFakeStripe, type FakeStripe } from './fake-stripe';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { composer, newUser, post } from './chat-helpers';
import { startTestServer, tempDir, type TestServer } from './helpers';

const dir = tempDir();
const PACKAGES = path.join(dir, 'packages.json');
fs.writeFileSync(PACKAGES, JSON.stringify({ version: 1, packages: [{ id: 'starter', name: 'Starter', tokens: 100_000, price: '10', currency: 'usd' }] }));

let stripe: FakeStripe;
let fake: FakeUpstream;
let srv: TestServer;
beforeAll(async () => {
  stripe = await startFakeStripe();
  fake = await startFakeUpstream();
  srv = await startTestServer({
    OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, SIGNUP_BONUS: '5', STRIPE_SECRET_KEY: 'sk_test_tokenchatFakeSecretKey0123456789',
    STRIPE_WEBHOOK_SECRET: 'whsec_tokenchatFakeWebhookSecret0123456789', PUBLIC_URL: 'https://chat.example.com', PACKAGES_FILE: PACKAGES, STRIPE_API_URL: stripe.url,
  });
});
afterAll(async () => {
  await srv.close();
  await fake.close();
  await stripe.close();
});

test('with payments set up the refusal offers buying tokens or a code, linked, as a warning, with and without JavaScript, in both languages', async () => {
  const user = await newUser(srv);
  const calls = fake.requests.length;
  const message = 'A question I cannot afford';
  const htmx = await post(user, '/send', { ...(await composer(user)), message });
  expect(htmx.status).toBe(402);
  expect(htmx.text).toMatch(/<p class="notice notice-warning" role="alert">Not enough tokens[^<]*<a href="\/recharge">Buy tokens or redeem a code on the Recharge page<\/a>, or ask an administrator for tokens\.<\/p>/);
  const plain = await post(user, '/send', { ...(await composer(user)), message }, false);
  expect(plain.status).toBe(402);
  expect(plain.text).toContain('<a href="/recharge">Buy tokens or redeem a code on the Recharge page</a>');
  expect(plain.text).toContain(message);
  await user.agent.post('/lang').type('form').send({ _csrf: (await composer(user))._csrf, lang: 'zh-CN', back: '/' });
  const zh = await post(user, '/send', { ...(await composer(user)), message });
  expect(zh.text).toContain('<a href="/recharge">在“充值”页面购买 tokens 或兑换充值码</a>，或联系管理员获取 tokens。');
  expect(fake.requests.length).toBe(calls);
});
