// Paying by Stripe Checkout: packages priced on the server, an order before Checkout, the balance
// grown only by a verified webhook and only once per order, refunds that never go below zero,
// events nothing can be credited for kept for the admin, and the orders pages.
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { ConfigError, loadConfig } from '../src/config';
import { verifyLedger } from '../src/ledger/verify';
import { loadPackages, PackagesFileError } from '../src/payments/packages';
import { expireStale } from '../src/payments/orders';
import { db, newUser, type User } from './chat-helpers';
import { signedEvent, startFakeStripe, type CheckoutSession, type FakeStripe } from './fake-stripe';
import { csrfFrom, startTestServer, tempDir, type TestServer } from './helpers';

const SECRET_KEY = 'sk_test_tokenchatFakeSecretKey0123456789';
const WEBHOOK_SECRET = 'whsec_tokenchatFakeWebhookSecret0123456789';
const dir = tempDir();
const PACKAGES = path.join(dir, 'packages.json');
fs.writeFileSync(PACKAGES, JSON.stringify({
  version: 1,
  packages: [
    { id: 'starter', name: { en: 'Starter', 'zh-CN': '入门包' }, tokens: 100_000, price: '10', currency: 'cny' },
    { id: 'dollar', name: 'Dollar pack', tokens: 7_000, price: 1.5, currency: 'usd' },
    { id: 'old', name: 'Retired', tokens: 5, price: '1', currency: 'cny', active: false },
  ],
}));

let stripe: FakeStripe;
let srv: TestServer;
let q: ReturnType<typeof db>;
let logs = '';
beforeAll(async () => {
  stripe = await startFakeStripe();
  const sink = new Writable({ write: (chunk, _enc, done) => ((logs += chunk.toString()), done()) });
  srv = await startTestServer(
    {
      STRIPE_SECRET_KEY: SECRET_KEY, STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, PUBLIC_URL: 'https://chat.example.com', PACKAGES_FILE: PACKAGES,
      STRIPE_API_URL: stripe.url, SIGNUP_BONUS: '0', LOGIN_RATE_LIMIT_PER_IP: '10000',
    },
    { logger: pino({ level: 'debug' }, sink) },
  );
  q = db(srv);
});
afterAll(async () => {
  await srv.close();
  await stripe.close();
});

const balance = (user: User) => q.balance(user);
const order = (id: number) => srv.sql.get('SELECT * FROM orders WHERE id = ?', id);
const verify = async () => expect(await srv.database.read(verifyLedger, 3_600_000)).toEqual([]);

/** Posts a signed event to the webhook; `tamper` changes the body after signing. */
function deliver(event: object, opts: { secret?: string; timestamp?: number; tamper?: (body: string) => string; signature?: string | null } = {}) {
  const signed = signedEvent(event, opts.secret ?? WEBHOOK_SECRET, opts.timestamp);
  const req = srv.agent().post('/stripe/webhook').set('content-type', 'application/json');
  if (opts.signature !== null) req.set('stripe-signature', opts.signature ?? signed.signature);
  return req.send(opts.tamper ? opts.tamper(signed.body) : signed.body);
}

/** Buys a package through the page: the order, and the Checkout session Stripe made for it. */
async function buy(user: User, pkg = 'starter', extra: Record<string, string> = {}) {
  const page = await user.agent.get('/recharge');
  const formId = new RegExp(`name="package" value="${pkg}">\\s*<input type="hidden" name="form_id" value="([^"]+)"`).exec(page.text)?.[1];
  expect(formId).toBeDefined();
  const res = await user.agent.post('/recharge/pay').type('form').send({ _csrf: csrfFrom(page.text), package: pkg, form_id: formId!, ...extra });
  expect(res.status).toBe(303);
  const row = await srv.sql.get('SELECT * FROM orders WHERE user_id = ? ORDER BY id DESC LIMIT 1', user.id);
  return { res, order: row, session: stripe.sessions.get(row.session_id)!, formId: formId!, csrf: csrfFrom(page.text) };
}

/** The event Stripe sends when a Checkout session is paid (or, unpaid, when a delayed method is pending). */
function completed(session: CheckoutSession, extra: Record<string, unknown> = {}, id = `evt_${Math.random().toString(36).slice(2)}`) {
  return { id, type: 'checkout.session.completed', data: { object: { ...session, status: 'complete', payment_status: 'paid', payment_intent: `pi_${session.id}`, ...extra } } };
}

function refunded(paymentIntent: string, amountRefunded: number, amount: number, currency = 'cny') {
  return {
    id: `evt_${Math.random().toString(36).slice(2)}`, type: 'charge.refunded',
    data: { object: { id: `ch_${paymentIntent}`, object: 'charge', payment_intent: paymentIntent, amount, amount_refunded: amountRefunded, currency, refunded: amountRefunded >= amount, receipt_url: `https://pay.stripe.com/receipts/${paymentIntent}` } },
  };
}

describe('settings and packages', () => {
  test('paying takes all four settings together, naming the missing ones', () => {
    expect(() => loadConfig({ STRIPE_SECRET_KEY: SECRET_KEY, PUBLIC_URL: 'https://x.example' })).toThrow(ConfigError);
    expect(() => loadConfig({ STRIPE_SECRET_KEY: SECRET_KEY, PUBLIC_URL: 'https://x.example' })).toThrow('STRIPE_WEBHOOK_SECRET, PACKAGES_FILE are not set');
    expect(() => loadConfig({ STRIPE_SECRET_KEY: 'pk_test_123' })).toThrow('STRIPE_SECRET_KEY must be a Stripe secret key');
    expect(loadConfig({}).payments).toBeUndefined();
  });

  test('a packages file is checked, naming the field; prices are kept in the smallest unit', () => {
    const file = path.join(dir, 'bad.json');
    const refuses = (json: unknown, message: string) => {
      fs.writeFileSync(file, JSON.stringify(json));
      expect(() => loadPackages(file)).toThrow(PackagesFileError);
      expect(() => loadPackages(file)).toThrow(message);
    };
    refuses({ packages: [{ id: 'a', name: 'A', tokens: 1, price: '1.505', currency: 'usd' }] }, 'packages.0.price must be a price');
    refuses({ packages: [{ id: 'a', name: 'A', tokens: 1, price: '100.5', currency: 'jpy' }] }, 'has more decimals than jpy takes (0)');
    refuses({ packages: [{ id: 'a', name: 'A', tokens: 1, price: '1', currency: 'xyz' }] }, 'packages.0.currency must be one of');
    refuses({ packages: [{ id: 'a', name: 'A', tokens: 1, price: '1', currency: 'usd' }, { id: 'a', name: 'B', tokens: 1, price: '1', currency: 'usd' }] }, 'packages.1.id "a" is listed twice');
    refuses({ packages: [{ id: 'a', name: 'A', tokens: 0, price: '1', currency: 'usd' }] }, 'packages.0.tokens');
    const catalogue = loadPackages(PACKAGES);
    expect(catalogue.buyable('starter')).toMatchObject({ amount: 1000, currency: 'cny', tokens: 100_000 });
    expect(catalogue.buyable('dollar')).toMatchObject({ amount: 150, currency: 'usd' });
    expect(catalogue.buyable('old')).toBeUndefined();
    fs.writeFileSync(file, JSON.stringify({ packages: [{ id: 'tw', name: 'TW', tokens: 1, price: '100', currency: 'twd' }] }));
    expect(loadPackages(file).buyable('tw')!.amount).toBe(10_000); // TWD has two decimals in Stripe's API
    const example = loadPackages(path.join(__dirname, '..', 'packages.example.json'));
    expect(example.packages.length).toBeGreaterThan(0);
  });
});

describe('buying a package', () => {
  test('the Recharge page lists the active packages with their prices, in both languages', async () => {
    const user = await newUser(srv);
    const en = await user.agent.get('/recharge');
    expect(en.text).toContain('Buy tokens');
    expect(en.text).toContain('Pay CN¥10.00');
    expect(en.text).toContain('Pay $1.50');
    expect(en.text).not.toContain('Retired');
    const zh = await user.agent.get('/recharge').set('Accept-Language', 'zh-CN');
    expect(zh.text).toContain('入门包');
    expect(zh.text).toContain('购买 tokens');
  });

  test('Pay makes a pending order priced on the server and sends the user to Checkout; the request cannot name a price', async () => {
    const user = await newUser(srv);
    const { res, order: row, session } = await buy(user, 'starter', { amount: '1', tokens: '999999999', currency: 'usd' });
    expect(res.headers.location).toBe(session.url);
    expect(row).toMatchObject({ state: 'pending', tokens: 100_000, amount: 1000, currency: 'cny', package_id: 'starter' });
    const sent = stripe.requests.at(-1)!;
    expect(sent.form.get('line_items[0][price_data][unit_amount]')).toBe('1000');
    expect(sent.form.get('line_items[0][price_data][currency]')).toBe('cny');
    expect(sent.form.get('client_reference_id')).toBe(String(user.id));
    expect(sent.form.get('metadata[order_id]')).toBe(String(row.id));
    expect(sent.form.get('success_url')).toBe(`https://chat.example.com/recharge/orders/${row.id}`);
    expect(sent.idempotencyKey).toBe(`tokenchat-order-${row.id}`);
    expect(sent.authorization).toBe(`Bearer ${SECRET_KEY}`);
    expect(await balance(user)).toBe(0);
  });

  test('the same form sent twice, also at once and seconds apart, is one order and one Checkout session', async () => {
    const user = await newUser(srv);
    const first = await buy(user);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // a second later: the same parameters still go to Stripe
    const again = await user.agent.post('/recharge/pay').type('form').send({ _csrf: first.csrf, package: 'starter', form_id: first.formId });
    expect(again.status).toBe(303);
    expect(again.headers.location).toBe(first.session.url);
    expect(await srv.sql.value('SELECT count(*) FROM orders WHERE user_id = ?', user.id)).toBe(1);
    // Two tabs sending one form at once: one order, pending, never failed.
    const page = await user.agent.get('/recharge');
    const formId = /name="form_id" value="([^"]+)"/.exec(page.text)![1]!;
    const both = await Promise.all([0, 1].map(() => user.agent.post('/recharge/pay').type('form').send({ _csrf: csrfFrom(page.text), package: 'starter', form_id: formId })));
    expect(both.map((r) => r.status)).toEqual([303, 303]);
    const rows = await srv.sql.all('SELECT state FROM orders WHERE user_id = ? ORDER BY id', user.id);
    expect(rows).toEqual([{ state: 'pending' }, { state: 'pending' }]);
  });

  test('a package that is retired or unknown is refused, and Stripe down fails the order without charging', async () => {
    const user = await newUser(srv);
    const page = await user.agent.get('/recharge');
    for (const pkg of ['old', 'nope', '']) {
      const res = await user.agent.post('/recharge/pay').type('form').send({ _csrf: csrfFrom(page.text), package: pkg, form_id: `f-${pkg}` });
      expect(res.status).toBe(422);
    }
    expect(await srv.sql.value('SELECT count(*) FROM orders WHERE user_id = ?', user.id)).toBe(0);
    stripe.failNext(500, 2); // the request and the SDK's one retry (safe: it carries an idempotency key)
    const res = await user.agent.post('/recharge/pay').type('form').send({ _csrf: csrfFrom(page.text), package: 'starter', form_id: 'outage' });
    expect(res.status).toBe(502);
    expect(res.text).toContain('Nothing was charged');
    expect(await srv.sql.get('SELECT state FROM orders WHERE user_id = ?', user.id)).toEqual({ state: 'failed' });
  });

  test('the return from Checkout alone credits nothing: the order page waits for Stripe, and polls', async () => {
    const user = await newUser(srv);
    const { order: row } = await buy(user);
    const back = await user.agent.get(`/recharge/orders/${row.id}`);
    expect(back.status).toBe(200);
    expect(back.text).toContain('Waiting for Stripe to confirm the payment');
    expect(back.text).toContain(`hx-get="/recharge/orders/${row.id}" hx-trigger="every 2s"`);
    expect(await balance(user)).toBe(0);
    expect((await order(row.id)).state).toBe('pending');
    // Another user's order does not exist for them.
    const other = await newUser(srv);
    expect((await other.agent.get(`/recharge/orders/${row.id}`)).status).toBe(404);
  });
});

describe('the webhook', () => {
  test('a paid session credits its order once: one purchase row, the order paid, audited; the page says so', async () => {
    const user = await newUser(srv);
    const { order: row, session } = await buy(user);
    const event = completed(session);
    const res = await deliver(event);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ received: true, outcome: 'credited' });
    expect(await balance(user)).toBe(100_000);
    expect(await order(row.id)).toMatchObject({ state: 'paid', payment_intent: `pi_${session.id}` });
    expect(await q.ledger(user)).toEqual([{ kind: 'purchase', amount: 100_000, balance_after: 100_000 }]);
    expect(await srv.sql.get("SELECT action, actor_id FROM admin_audit WHERE action = 'order_paid' AND target_user_id = ?", user.id)).toEqual({ action: 'order_paid', actor_id: null });
    const page = await user.agent.get(`/recharge/orders/${row.id}`);
    expect(page.text).toContain('Payment received: 100,000 tokens added.');
    expect(page.text).not.toContain('hx-trigger="every 2s"');
    // The same event again, and a later event for the same session, credit nothing more.
    expect((await deliver(event)).body.outcome).toBe('duplicate');
    expect((await deliver({ ...completed(session), type: 'checkout.session.async_payment_succeeded' })).body.outcome).toBe('already');
    expect(await balance(user)).toBe(100_000);
    await verify();
  });

  test('the same event delivered twice at once credits once', async () => {
    const user = await newUser(srv);
    const { session } = await buy(user);
    const event = completed(session);
    const outcomes = (await Promise.all([deliver(event), deliver(event), deliver(event)])).map((r) => r.body.outcome).sort();
    expect(outcomes).toEqual(['credited', 'duplicate', 'duplicate']);
    // Two different events for one session, at once: still one purchase (the order row is locked, and the UNIQUE index stands behind it).
    const other = await newUser(srv);
    const second = await buy(other);
    const both = await Promise.all([deliver(completed(second.session)), deliver({ ...completed(second.session), type: 'checkout.session.async_payment_succeeded' })]);
    expect(both.map((r) => r.body.outcome).sort()).toEqual(['already', 'credited']);
    expect(await balance(user)).toBe(100_000);
    expect(await balance(other)).toBe(100_000);
    await verify();
  });

  test('a bad signature, a stale timestamp, a tampered body or no signature change nothing (400)', async () => {
    const user = await newUser(srv);
    const { order: row, session } = await buy(user);
    const event = completed(session);
    const stale = Math.floor(Date.now() / 1000) - 600;
    const tries = [
      await deliver(event, { secret: 'whsec_not_the_secret' }),
      await deliver(event, { timestamp: stale }),
      await deliver(event, { tamper: (body) => body.replace('"amount_total":1000', '"amount_total":1') }),
      await deliver(event, { signature: null }),
      await deliver(event, { signature: 't=1,v1=deadbeef' }),
    ];
    for (const res of tries) expect(res.status).toBe(400);
    expect(await balance(user)).toBe(0);
    expect((await order(row.id)).state).toBe('pending');
    expect(await srv.sql.value('SELECT count(*) FROM payment_events WHERE event_id = ?', event.id)).toBe(0);
    // The real delivery still works afterwards.
    expect((await deliver(event)).body.outcome).toBe('credited');
  });

  test('a paid session for no order, or not matching its order, credits nothing and is kept for the admin', async () => {
    const user = await newUser(srv);
    const { order: row, session } = await buy(user);
    const stranger = completed({ ...session, id: 'cs_test_unknown', metadata: { order_id: '999999' } });
    expect((await deliver(stranger)).body.outcome).toBe('unknown_order');
    // An unpaid or expired session tokenchat did not make (a Payment Link, `stripe trigger`) is no issue.
    const unpaid = { id: 'evt_unpaid_stranger', type: 'checkout.session.expired', data: { object: { ...session, id: 'cs_test_other', status: 'expired' } } };
    expect((await deliver(unpaid)).body.outcome).toBe('ignored');
    const cheap = completed(session, { amount_total: 1 });
    expect((await deliver(cheap)).body.outcome).toBe('mismatch');
    const otherUser = completed(session, { client_reference_id: '424242' });
    expect((await deliver(otherUser)).body.outcome).toBe('mismatch');
    expect(await balance(user)).toBe(0);
    expect((await order(row.id)).state).toBe('pending');
    const admin = await newUser(srv);
    await srv.sql.run(`UPDATE users SET role = 'admin' WHERE id = ?`, admin.id);
    const page = await admin.agent.get('/admin/orders');
    expect(page.text).toContain(stranger.id);
    expect(page.text).toContain(cheap.id);
    expect(page.text).toContain('Does not match its order');
    const audit = await admin.agent.get('/admin/audit');
    expect(audit.text).toContain('Payment not matching its order');
    expect(audit.text).toContain('Stripe');
  });

  test('a delayed method: completed but unpaid waits; async_payment_succeeded credits; a failed one marks the order failed', async () => {
    const user = await newUser(srv);
    const { order: row, session } = await buy(user);
    expect((await deliver(completed(session, { payment_status: 'unpaid' }))).body.outcome).toBe('waiting');
    expect(await balance(user)).toBe(0);
    expect((await deliver({ ...completed(session), type: 'checkout.session.async_payment_succeeded' })).body.outcome).toBe('credited');
    expect(await balance(user)).toBe(100_000);
    expect((await order(row.id)).state).toBe('paid');
    const other = await newUser(srv);
    const second = await buy(other);
    expect((await deliver({ ...completed(second.session, { payment_status: 'unpaid' }), type: 'checkout.session.async_payment_failed' })).body.outcome).toBe('failed');
    expect((await order(second.order.id)).state).toBe('failed');
    expect(await balance(other)).toBe(0);
  });

  test('an expired session expires its order; a paid one is not expired after', async () => {
    const user = await newUser(srv);
    const { order: row, session } = await buy(user);
    expect((await deliver({ id: 'evt_exp_' + row.id, type: 'checkout.session.expired', data: { object: { ...session, status: 'expired' } } })).body.outcome).toBe('expired');
    expect((await order(row.id)).state).toBe('expired');
    expect((await user.agent.get(`/recharge/orders/${row.id}`)).text).toContain('expired before it was paid');
  });

  test('a pending order whose Checkout closed an hour ago expires without Stripe\'s event, audited; a later payment still credits it', async () => {
    const user = await newUser(srv);
    const { order: row, session } = await buy(user);
    expect(await srv.database.write(expireStale, new Date())).toBe(0); // still open
    const later = new Date(Date.parse(row.expires_at) + 3_600_001);
    expect(await srv.database.write(expireStale, later)).toBeGreaterThanOrEqual(1);
    expect((await order(row.id)).state).toBe('expired');
    expect(await srv.sql.value("SELECT count(*) FROM admin_audit WHERE action = 'order_expired' AND target_user_id = ?", user.id)).toBe(1);
    expect((await deliver({ ...completed(session), type: 'checkout.session.async_payment_succeeded' })).body.outcome).toBe('credited');
    expect(await balance(user)).toBe(100_000);
  });

  test('an event type tokenchat does not handle is answered 200 and not kept', async () => {
    const res = await deliver({ id: 'evt_ignored_1', type: 'customer.created', data: { object: { id: 'cus_1' } } });
    expect(res.status).toBe(200);
    expect(res.body.outcome).toBe('ignored');
    expect(await srv.sql.value('SELECT count(*) FROM payment_events WHERE event_id = ?', 'evt_ignored_1')).toBe(0);
  });
});

describe('refunds', () => {
  test('a partial refund takes back its share of the tokens, rounded up; a full one the rest', async () => {
    const user = await newUser(srv);
    const { order: row, session } = await buy(user, 'dollar'); // 7,000 tokens for $1.50
    await deliver(completed(session));
    const pi = `pi_${session.id}`;
    // 50 of 150 cents: a third of 7,000 = 2,333.3 -> 2,334.
    expect((await deliver(refunded(pi, 50, 150, 'usd'))).body.outcome).toBe('refunded');
    expect(await balance(user)).toBe(7_000 - 2_334);
    expect(await order(row.id)).toMatchObject({ state: 'partly_refunded', refunded: 50, tokens_back: 2_334, receipt_url: `https://pay.stripe.com/receipts/${pi}` });
    // The rest: 7,000 in all, never more.
    expect((await deliver(refunded(pi, 150, 150, 'usd'))).body.outcome).toBe('refunded');
    expect(await balance(user)).toBe(0);
    expect(await order(row.id)).toMatchObject({ state: 'refunded', refunded: 150, tokens_back: 7_000 });
    // A repeated (or stale) refund event takes nothing more.
    expect((await deliver(refunded(pi, 100, 150, 'usd'))).body.outcome).toBe('already');
    expect(await balance(user)).toBe(0);
    await verify();
  });

  test('a refund Stripe reports before the payment reaches tokenchat is applied when it does', async () => {
    const user = await newUser(srv);
    const { order: row, session } = await buy(user);
    const early = refunded(`pi_${session.id}`, 500, 1000);
    expect((await deliver(early)).body.outcome).toBe('unknown_order');
    expect((await deliver(completed(session))).body.outcome).toBe('credited');
    expect(await balance(user)).toBe(50_000);
    expect(await order(row.id)).toMatchObject({ state: 'partly_refunded', refunded: 500, tokens_back: 50_000 });
    expect(await srv.sql.get('SELECT outcome, order_id FROM payment_events WHERE event_id = ?', early.id)).toEqual({ outcome: 'refunded', order_id: row.id });
    await verify();
  });

  test('a payment and its refund handled at the same moment, on two connections: the refund is never lost', async () => {
    for (let i = 0; i < 8; i++) {
      const user = await newUser(srv);
      const { order: row, session } = await buy(user);
      const outcomes = await Promise.all([deliver(completed(session)), deliver(refunded(`pi_${session.id}`, 1000, 1000))]);
      expect(outcomes.map((r) => r.status)).toEqual([200, 200]);
      expect(await order(row.id)).toMatchObject({ state: 'refunded', tokens_back: 100_000 });
      expect(await balance(user)).toBe(0);
    }
    await verify();
  });

  test('a refund in another currency than the order\'s is kept for the admin and takes nothing', async () => {
    const user = await newUser(srv);
    const { session } = await buy(user);
    await deliver(completed(session));
    expect((await deliver(refunded(`pi_${session.id}`, 1000, 1000, 'usd'))).body.outcome).toBe('mismatch');
    expect(await balance(user)).toBe(100_000);
  });

  test('a matching payment for an order marked failed (Checkout could not be confirmed) is still credited', async () => {
    const user = await newUser(srv);
    const { order: row, session } = await buy(user);
    await srv.sql.run("UPDATE orders SET state = 'failed' WHERE id = ?", row.id);
    expect((await deliver(completed(session))).body.outcome).toBe('credited');
    expect(await balance(user)).toBe(100_000);
  });

  test('tokens already spent are owed, never taken below zero, and come out of the next purchase', async () => {
    const user = await newUser(srv);
    const first = await buy(user);
    await deliver(completed(first.session));
    // Spend most of it: a deduction stands in for chat turns.
    await srv.sql.run("INSERT INTO ledger (user_id, kind, amount, balance_after, note) VALUES (?, 'adjust', -90000, 10000, 'spent')", user.id);
    await srv.sql.run('UPDATE balances SET balance = 10000 WHERE user_id = ?', user.id);
    expect((await deliver(refunded(`pi_${first.session.id}`, 1000, 1000))).body.outcome).toBe('refunded');
    expect(await balance(user)).toBe(0);
    expect(await srv.sql.value('SELECT owed FROM balances WHERE user_id = ?', user.id)).toBe(90_000);
    expect((await user.agent.get('/orders')).text).toContain('You owe 90,000 tokens from a refund');
    // The next purchase pays the debt first.
    const second = await buy(user);
    await deliver(completed(second.session));
    expect(await balance(user)).toBe(10_000);
    expect(await srv.sql.value('SELECT owed FROM balances WHERE user_id = ?', user.id)).toBe(0);
    expect((await q.ledger(user)).slice(-2)).toEqual([
      { kind: 'purchase', amount: 100_000, balance_after: 100_000 },
      { kind: 'refund', amount: -90_000, balance_after: 10_000 },
    ]);
    await verify();
  });
});

describe('the orders pages', () => {
  test('a user sees their orders, in both languages; an admin sees everyone\'s, searchable, with totals per day', async () => {
    const user = await newUser(srv);
    const { order: row, session } = await buy(user);
    await deliver(completed(session));
    const en = await user.agent.get('/orders');
    expect(en.status).toBe(200);
    expect(en.text).toContain('Starter');
    expect(en.text).toContain('CN¥10.00');
    expect(en.text).toContain('Paid');
    const zh = await user.agent.get('/orders').set('Accept-Language', 'zh-CN');
    expect(zh.text).toContain('已支付');
    expect(zh.text).toContain('订单');
    const admin = await newUser(srv);
    await srv.sql.run(`UPDATE users SET role = 'admin' WHERE id = ?`, admin.id);
    const all = await admin.agent.get(`/admin/orders?q=${row.id}`);
    expect(all.status).toBe(200);
    expect(all.text).toContain(session.id);
    expect(all.text).toContain('Paid, by day');
    expect((await admin.agent.get('/admin/orders').set('Accept-Language', 'zh-CN')).text).toContain('按日已支付');
    expect((await user.agent.get('/admin/orders')).status).toBe(404);
    // The ledger's CSV has the purchase row.
    const csv = await user.agent.get('/usage/ledger.csv');
    expect(csv.text).toMatch(/purchase,100000,100000/);
  });

  test('the keys never reach pages or logs', async () => {
    const admin = await newUser(srv);
    await srv.sql.run(`UPDATE users SET role = 'admin' WHERE id = ?`, admin.id);
    const pages = await Promise.all(['/recharge', '/orders', '/admin/orders', '/admin/audit'].map((p) => admin.agent.get(p)));
    for (const text of [...pages.map((p) => p.text), logs]) {
      expect(text).not.toContain(SECRET_KEY);
      expect(text).not.toContain(WEBHOOK_SECRET);
    }
  });
});
