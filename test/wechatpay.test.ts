// Paying by WeChat Pay (API v3) against a local fake (merchant and platform RSA keys and the APIv3
// key made in the test, real HTTP): the QR code page to the credited balance on a computer, H5 on a
// phone; notifications forged, tampered, stale, under another key id, undecryptable, for another
// amount, merchant or app credit nothing; the same one three times at once credits once; a payment
// whose notification never comes is found by the sweep's query; a refund asked from the admin's
// order page takes back the pro-rata share when its notification comes. `ledger verify` after each.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { newUser, type User } from './chat-helpers';
import { balanceOf, buy, ledgerClean, newAdmin, PHONE, purchases, refundFromPage, startCnPay, type CnPay } from './cn-pay-helpers';
import type { SignedNote } from './fake-wechatpay';
import { sweepTrades } from '../src/payments/trades';
import { createOrder, expireStale } from '../src/payments/orders';
import { loadPackages } from '../src/payments/packages';

let pay: CnPay;
beforeAll(async () => {
  pay = await startCnPay();
});
afterAll(() => pay.close());

const notify = (note: SignedNote, body = note.body) => pay.srv.agent().post('/wechatpay/notify').set(note.headers).send(body);

/** Buys the starter package with WeChat Pay on a computer: back to the order's page, with its QR code. */
async function opened(user: User) {
  const bought = await buy(pay, user, 'wechat');
  expect(bought.res.status).toBe(303);
  expect(bought.res.headers.location).toBe(`/recharge/orders/${bought.order.id}`);
  return bought;
}

describe('WeChat Pay', () => {
  test('a full payment: the order page shows the QR code, the notification credits the order once', async () => {
    const user = await newUser(pay.srv);
    const { order, outTradeNo } = await opened(user);
    expect(order).toMatchObject({ method: 'wechat', state: 'pending', checkout_url: `weixin://wxpay/bizpayurl?pr=${outTradeNo}` });
    const page = await user.agent.get(`/recharge/orders/${order.id}`);
    expect(page.text).toMatch(/<img src="data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+" width="240" height="240" alt="QR code to pay order #\d+ with WeChat Pay">/);
    expect(page.text).toContain('Waiting for WeChat Pay to confirm the payment');
    expect(page.text).not.toContain('weixin://'); // scanned, never followed
    pay.wechat.pay(outTradeNo);
    const res = await notify(pay.wechat.paidNote(outTradeNo));
    expect(res.status).toBe(204);
    expect(await balanceOf(pay, user)).toBe(100_000);
    expect((await user.agent.get(`/recharge/orders/${order.id}`)).text).toContain('Payment received: 100,000 tokens added.');
    const zh = await user.agent.get('/orders').set('Accept-Language', 'zh-CN');
    expect(zh.text).toContain('微信支付');
    await ledgerClean(pay);
  });

  test('a phone is sent to the H5 payment page; a package in dollars cannot be paid with WeChat Pay', async () => {
    const user = await newUser(pay.srv);
    const { res, outTradeNo } = await buy(pay, user, 'wechat', PHONE);
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/^https:\/\/wx\.tenpay\.com\/cgi-bin\/mmpayweb-bin\/checkmweb\?/);
    expect(pay.wechat.trades.get(outTradeNo)!.kind).toBe('h5');
    expect((await user.agent.get('/recharge')).text).not.toContain('Dollar pack');
    const page = await user.agent.get('/recharge');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
    const refused = await user.agent.post('/recharge/pay').type('form').send({ _csrf: csrf, package: 'dollar', form_id: 'f-dollar-1', method: 'wechat' });
    expect(refused.status).toBe(422);
    expect(await pay.srv.sql.value("SELECT count(*) FROM orders WHERE user_id = ? AND package_id = 'dollar'", user.id)).toBe(0);
  });

  test('forged, tampered, stale, wrong-key, undecryptable, wrong-amount, wrong-merchant and wrong-app notifications credit nothing', async () => {
    const user = await newUser(pay.srv);
    const { order, outTradeNo } = await opened(user);
    pay.wechat.pay(outTradeNo);
    const stranger = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const refusedWith = async (note: SignedNote, body?: string) => {
      const res = await notify(note, body);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ code: 'FAIL', message: 'invalid signature' });
    };
    await refusedWith(pay.wechat.paidNote(outTradeNo, {}, { signKey: stranger }));
    const good = pay.wechat.paidNote(outTradeNo);
    await refusedWith(good, good.body.replace('"event_type":"TRANSACTION.SUCCESS"', '"event_type":"TRANSACTION.SUCCESS" '));
    await refusedWith(pay.wechat.paidNote(outTradeNo, {}, { timestamp: Math.floor(Date.now() / 1000) - 600 }));
    await refusedWith(pay.wechat.paidNote(outTradeNo, {}, { serial: 'PUB_KEY_ID_SOMEONE_ELSE' }));
    await refusedWith(pay.wechat.paidNote(outTradeNo, {}, { apiV3Key: 'x'.repeat(32) }));
    await refusedWith({ headers: {}, body: '{}' });
    // Verified, but not what the order is: answered received, listed for the admin.
    for (const resource of [{ amount: { total: 1, currency: 'CNY' } }, { mchid: '1900000999' }, { appid: 'wx0000000000000000' }]) {
      expect((await notify(pay.wechat.paidNote(outTradeNo, resource))).status).toBe(204);
    }
    expect(await balanceOf(pay, user)).toBe(0);
    expect(await pay.srv.sql.value("SELECT count(*) FROM payment_events WHERE order_id = ? AND outcome = 'mismatch'", order.id)).toBe(3);
    expect((await notify(good)).status).toBe(204);
    expect((await notify(good)).status).toBe(204); // delivered again: kept once
    expect(await balanceOf(pay, user)).toBe(100_000);
    expect(await purchases(pay, user)).toBe(1);
    await ledgerClean(pay);
  });

  test('no key reaches a page or the log, even when WeChat Pay refuses', async () => {
    const user = await newUser(pay.srv);
    const { order, outTradeNo } = await opened(user);
    pay.wechat.pay(outTradeNo);
    await notify(pay.wechat.paidNote(outTradeNo));
    const admin = await newAdmin(pay);
    // Refunding more than WeChat Pay holds for the trade: it refuses, the page says so, the log has its answer.
    pay.wechat.trades.get(outTradeNo)!.state = 'CLOSED';
    const refused = await refundFromPage(admin, order.id, '1.00');
    expect(refused.res.status).toBe(502);
    expect(refused.res.text).toContain('WeChat Pay refused the refund or could not be reached');
    expect(await balanceOf(pay, user)).toBe(100_000);
    expect(pay.logs()).toContain('a refund was refused or failed');
    const pages = await Promise.all([`/recharge/orders/${order.id}`, '/orders', '/recharge'].map((p) => user.agent.get(p)));
    const adminPages = await Promise.all(['/admin/orders', `/admin/orders/${order.id}`, '/admin/audit'].map((p) => admin.agent.get(p)));
    const secrets = [pay.wechat.env.WECHATPAY_APIV3_KEY_FILE!, pay.wechat.env.WECHATPAY_PRIVATE_KEY_FILE!, pay.alipay.env.ALIPAY_PRIVATE_KEY_FILE!]
      .map((f) => fs.readFileSync(f, 'utf8').replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '').slice(0, 40));
    for (const text of [...pages.map((p) => p.text), ...adminPages.map((p) => p.text), pay.logs()]) {
      for (const secret of secrets) expect(text).not.toContain(secret);
    }
  });

  test('the same notification three times at once credits once', async () => {
    const user = await newUser(pay.srv);
    const { outTradeNo } = await opened(user);
    pay.wechat.pay(outTradeNo);
    const note = pay.wechat.paidNote(outTradeNo);
    const answers = await Promise.all([notify(note), notify(note), notify(note)]);
    expect(answers.map((a) => a.status)).toEqual([204, 204, 204]);
    expect(await purchases(pay, user)).toBe(1);
    expect(await balanceOf(pay, user)).toBe(100_000);
    await ledgerClean(pay);
  });

  test('a payment whose notification never comes is found by the sweep and credited once; an unpaid one is closed and expired', async () => {
    const user = await newUser(pay.srv);
    const paid = await opened(user);
    const unpaid = await opened(user);
    pay.wechat.pay(paid.outTradeNo);
    const soon = new Date(Date.now() + 2 * 60_000);
    await sweepTrades(pay.srv.database, pay.gateways, soon);
    await sweepTrades(pay.srv.database, pay.gateways, soon);
    expect(await purchases(pay, user)).toBe(1);
    expect((await notify(pay.wechat.paidNote(paid.outTradeNo))).status).toBe(204);
    expect(await balanceOf(pay, user)).toBe(100_000);
    await sweepTrades(pay.srv.database, pay.gateways, new Date(Date.parse(unpaid.order.expires_at) + 2 * 60_000));
    expect(pay.wechat.trades.get(unpaid.outTradeNo)!.state).toBe('CLOSED');
    expect(await pay.srv.sql.value('SELECT state FROM orders WHERE id = ?', unpaid.order.id)).toBe('expired');
    // An order whose trade was never opened (the process stopped in between) expires as Stripe's do.
    const pkg = loadPackages(pay.srv.config.packagesFile!).buyable('starter')!;
    const never = await pay.srv.database.write(createOrder, user.id, pkg, 'Starter', 'never-opened', new Date(Date.now() + 60_000).toISOString(), 'wechat');
    await pay.srv.database.write(expireStale, new Date(Date.now() + 2 * 3_600_000));
    expect(await pay.srv.sql.value('SELECT state FROM orders WHERE id = ?', never.id)).toBe('expired');
    await ledgerClean(pay);
  });

  test("a refund asked from the admin's order page takes back the pro-rata share when WeChat Pay confirms it", async () => {
    const user = await newUser(pay.srv);
    const { order, outTradeNo } = await opened(user);
    pay.wechat.pay(outTradeNo);
    await notify(pay.wechat.paidNote(outTradeNo));
    const admin = await newAdmin(pay);
    const { res, requestId } = await refundFromPage(admin, order.id, '2.50');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/admin/orders/${order.id}?done=processing`);
    expect(await balanceOf(pay, user)).toBe(100_000); // processing: nothing taken yet
    const note = pay.wechat.refundNote(`r${order.id}-${requestId}`);
    await Promise.all([notify(note), notify(note), notify(note)]);
    expect(await balanceOf(pay, user)).toBe(75_000);
    // A second refund of the rest takes back the rest.
    const rest = await refundFromPage(admin, order.id, '7.50');
    await notify(pay.wechat.refundNote(`r${order.id}-${rest.requestId}`));
    expect(await balanceOf(pay, user)).toBe(0);
    expect(await pay.srv.sql.get('SELECT state, refunded, tokens_back FROM orders WHERE id = ?', order.id)).toEqual({ state: 'refunded', refunded: 1000, tokens_back: 100_000 });
    await ledgerClean(pay);
  });

  test('a refund made at WeChat Pay before its payment reached tokenchat is taken back when the payment does', async () => {
    const user = await newUser(pay.srv);
    const { order, outTradeNo } = await opened(user);
    const trade = pay.wechat.pay(outTradeNo); // paid; its notification fails for now
    // The merchant refunds 4.00 from WeChat Pay's console; its notification comes first.
    trade.refunds.set('console-1', { refundId: '503000000000000000000000000001', amount: 400, status: 'SUCCESS' });
    expect((await notify(pay.wechat.refundNote('console-1'))).status).toBe(204);
    expect(await balanceOf(pay, user)).toBe(0);
    // WeChat Pay notifies the payment again: credited, and the refunded share taken back at once.
    expect((await notify(pay.wechat.paidNote(outTradeNo))).status).toBe(204);
    expect(await balanceOf(pay, user)).toBe(60_000);
    expect(await pay.srv.sql.get('SELECT state, refunded, tokens_back FROM orders WHERE id = ?', order.id)).toEqual({ state: 'partly_refunded', refunded: 400, tokens_back: 40_000 });
    await notify(pay.wechat.refundNote('console-1'));
    expect(await balanceOf(pay, user)).toBe(60_000);
    await ledgerClean(pay);
  });

  test('a trade refunded in part before tokenchat heard of its payment (WeChat Pay says REFUND) is found by the sweep and credited, less the refund', async () => {
    const user = await newUser(pay.srv);
    const { order, outTradeNo } = await opened(user);
    const trade = pay.wechat.pay(outTradeNo); // its payment notifications all fail
    trade.refunds.set('console-2', { refundId: '503000000000000000000000000002', amount: 250, status: 'SUCCESS' });
    trade.state = 'REFUND';
    await notify(pay.wechat.refundNote('console-2'));
    const late = new Date(Date.parse(order.expires_at) + 2 * 60_000);
    await sweepTrades(pay.srv.database, pay.gateways, late);
    await sweepTrades(pay.srv.database, pay.gateways, late);
    expect(await balanceOf(pay, user)).toBe(75_000);
    expect(await pay.srv.sql.get('SELECT state, refunded FROM orders WHERE id = ?', order.id)).toEqual({ state: 'partly_refunded', refunded: 250 });
    await ledgerClean(pay);
  });

  test('the sweep and the notification crediting the same order at once credit it once; a payment reaching an order expired here still credits it', async () => {
    const user = await newUser(pay.srv);
    const raced = await opened(user);
    pay.wechat.pay(raced.outTradeNo);
    const soon = new Date(Date.now() + 2 * 60_000);
    await Promise.all([sweepTrades(pay.srv.database, pay.gateways, soon), notify(pay.wechat.paidNote(raced.outTradeNo)), notify(pay.wechat.paidNote(raced.outTradeNo))]);
    expect(await purchases(pay, user)).toBe(1);
    expect(await balanceOf(pay, user)).toBe(100_000);
    const late = await opened(user);
    await pay.srv.sql.run("UPDATE orders SET state = 'expired' WHERE id = ?", late.order.id);
    pay.wechat.pay(late.outTradeNo);
    expect((await notify(pay.wechat.paidNote(late.outTradeNo))).status).toBe(204);
    expect(await balanceOf(pay, user)).toBe(200_000);
    await ledgerClean(pay);
  });

  test('a refund notification for more than was paid takes back the order\'s tokens and no more', async () => {
    const user = await newUser(pay.srv);
    const { order, outTradeNo } = await opened(user);
    const trade = pay.wechat.pay(outTradeNo);
    await notify(pay.wechat.paidNote(outTradeNo));
    trade.refunds.set('console-3', { refundId: '503000000000000000000000000003', amount: 5000, status: 'SUCCESS' });
    await notify(pay.wechat.refundNote('console-3'));
    expect(await balanceOf(pay, user)).toBe(0);
    expect(await pay.srv.sql.get('SELECT state, refunded, tokens_back FROM orders WHERE id = ?', order.id)).toEqual({ state: 'refunded', refunded: 1000, tokens_back: 100_000 });
    expect(await pay.srv.sql.value('SELECT owed FROM balances WHERE user_id = ?', user.id)).toBe(0);
    await ledgerClean(pay);
  });

  test('a refund whose notification never comes is found by the sweep, and its late notification takes nothing more', async () => {
    const user = await newUser(pay.srv);
    const { order, outTradeNo } = await opened(user);
    pay.wechat.pay(outTradeNo);
    await notify(pay.wechat.paidNote(outTradeNo));
    const admin = await newAdmin(pay);
    const { requestId } = await refundFromPage(admin, order.id, '4.00');
    const refundNo = `r${order.id}-${requestId}`;
    await sweepTrades(pay.srv.database, pay.gateways, new Date());
    expect(await balanceOf(pay, user)).toBe(100_000); // still processing at WeChat Pay
    pay.wechat.finishRefund(refundNo);
    await sweepTrades(pay.srv.database, pay.gateways, new Date());
    await sweepTrades(pay.srv.database, pay.gateways, new Date());
    expect(await balanceOf(pay, user)).toBe(60_000);
    await notify(pay.wechat.refundNote(refundNo));
    expect(await balanceOf(pay, user)).toBe(60_000);
    expect(await pay.srv.sql.value("SELECT outcome FROM payment_events WHERE event_id = ?", `wechat:refund-asked:${refundNo}`)).toBe('refund_done');
    await ledgerClean(pay);
  });
});
