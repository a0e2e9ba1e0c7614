// Paying by Alipay against a local fake Alipay (RSA keys made in the test, real HTTP): the page to
// the credited balance on a computer and a phone; notifications that are forged, tampered, signed
// with RSA (SHA-1), replayed, for another amount or another app credit nothing; the same one three
// times at once credits once; a payment whose notification never comes is found by the minute
// sweep's query; an unpaid order is closed and expired; a refund from the admin's order page takes
// back the pro-rata share. `ledger verify` is clean after each.
import crypto from 'node:crypto';
import { newUser, type User } from './chat-helpers';
import { csrfFrom } from './helpers';
import { balanceOf, buy, ledgerClean, newAdmin, PHONE, purchases, refundFromPage, startCnPay, type CnPay } from './cn-pay-helpers';
import { sweepTrades } from '../src/payments/trades';

let pay: CnPay;
beforeAll(async () => {
  pay = await startCnPay();
});
afterAll(() => pay.close());

const notify = (params: Record<string, string>) => pay.srv.agent().post('/alipay/notify').type('form').send(new URLSearchParams(params).toString());

/** Buys the starter package with Alipay and follows Pay to the fake Alipay's page. */
async function opened(user: User, userAgent?: string) {
  const bought = await buy(pay, user, 'alipay', userAgent);
  expect(bought.res.status).toBe(303);
  const location = bought.res.headers.location as string;
  expect(location.startsWith(`${pay.alipay.url}/gateway.do?`)).toBe(true);
  expect((await fetch(location)).status).toBe(200); // the user reaches Alipay's page: the trade exists there
  return bought;
}

describe('Alipay', () => {
  test('a full payment on a computer: Pay leads to Alipay, its notification credits the order once', async () => {
    const user = await newUser(pay.srv);
    const { order, outTradeNo } = await opened(user);
    expect(order).toMatchObject({ method: 'alipay', state: 'pending', amount: 1000, currency: 'cny' });
    expect(pay.alipay.trades.get(outTradeNo)).toMatchObject({ method: 'alipay.trade.page.pay', amount: '10.00', notifyUrl: 'https://chat.example.com/alipay/notify' });
    // The return from Alipay changes nothing.
    expect((await user.agent.get(`/recharge/orders/${order.id}`)).text).toContain('Waiting for Alipay to confirm the payment');
    expect(await balanceOf(pay, user)).toBe(0);
    pay.alipay.pay(outTradeNo);
    const res = await notify(pay.alipay.notification(outTradeNo));
    expect(res.status).toBe(200);
    expect(res.text).toBe('success');
    expect(await balanceOf(pay, user)).toBe(100_000);
    const page = await user.agent.get(`/recharge/orders/${order.id}`);
    expect(page.text).toContain('Payment received: 100,000 tokens added.');
    expect((await user.agent.get('/orders')).text).toContain('Alipay');
    expect(await pay.srv.sql.get('SELECT state, payment_intent FROM orders WHERE id = ?', order.id)).toEqual({ state: 'paid', payment_intent: pay.alipay.trades.get(outTradeNo)!.tradeNo });
    expect(await pay.srv.sql.value("SELECT count(*) FROM admin_audit WHERE action = 'order_paid' AND target_user_id = ?", user.id)).toBe(1);
    await ledgerClean(pay);
  });

  test('a phone is sent to the mobile website payment; Continue makes a fresh link to the same trade, for the owner only', async () => {
    const user = await newUser(pay.srv);
    const { order, outTradeNo } = await opened(user, PHONE);
    expect(pay.alipay.trades.get(outTradeNo)!.method).toBe('alipay.trade.wap.pay');
    const page = await user.agent.get(`/recharge/orders/${order.id}`);
    expect(page.text).toContain(`action="/recharge/orders/${order.id}/pay"`);
    const again = await user.agent.post(`/recharge/orders/${order.id}/pay`).set('user-agent', PHONE).type('form').send({ _csrf: csrfFrom(page.text) });
    expect(again.status).toBe(303);
    expect(new URL(again.headers.location as string).origin).toBe(pay.alipay.url);
    expect(JSON.parse(new URL(again.headers.location as string).searchParams.get('biz_content')!).out_trade_no).toBe(outTradeNo);
    const other = await newUser(pay.srv);
    const theirs = await other.agent.get('/recharge');
    expect((await other.agent.post(`/recharge/orders/${order.id}/pay`).type('form').send({ _csrf: csrfFrom(theirs.text) })).status).toBe(404);
    expect(await pay.srv.sql.value('SELECT count(*) FROM orders WHERE id = ?', order.id)).toBe(1);
  });

  test('forged, tampered, RSA-signed, wrong-amount and wrong-app notifications credit nothing; a replay credits nothing more', async () => {
    const user = await newUser(pay.srv);
    const { order, outTradeNo } = await opened(user);
    pay.alipay.pay(outTradeNo);
    const stranger = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const forged = await notify(pay.alipay.notification(outTradeNo, {}, stranger));
    expect([forged.status, forged.text]).toEqual([400, 'fail']);
    const tampered = { ...pay.alipay.notification(outTradeNo, { total_amount: '0.01' }), total_amount: '10.00' };
    expect((await notify({ ...pay.alipay.notification(outTradeNo), total_amount: '0.01' })).status).toBe(400);
    expect((await notify({ ...tampered, out_trade_no: 'tc1_0' })).status).toBe(400);
    expect((await notify({ ...pay.alipay.notification(outTradeNo), sign_type: 'RSA' })).status).toBe(400);
    expect((await notify({})).status).toBe(400);
    // Signed by Alipay, but not what the order is: listed for the admin, answered success (sending it again changes nothing).
    expect((await notify(pay.alipay.notification(outTradeNo, { total_amount: '0.01' }))).text).toBe('success');
    expect((await notify(pay.alipay.notification(outTradeNo, { app_id: '2021000000009999' }))).text).toBe('success');
    expect(await balanceOf(pay, user)).toBe(0);
    expect(await pay.srv.sql.value("SELECT count(*) FROM payment_events WHERE order_id = ? AND outcome = 'mismatch'", order.id)).toBe(2);
    expect(await pay.srv.sql.value("SELECT count(*) FROM admin_audit WHERE action = 'payment_mismatch' AND target_user_id = ?", user.id)).toBe(2);
    const good = pay.alipay.notification(outTradeNo);
    await notify(good);
    expect((await notify(good)).text).toBe('success'); // Alipay sends it again: kept once
    expect((await notify(pay.alipay.notification(outTradeNo))).text).toBe('success'); // another notification of the same payment
    expect(await balanceOf(pay, user)).toBe(100_000);
    expect(await purchases(pay, user)).toBe(1);
    await ledgerClean(pay);
  });

  test('refunds Alipay reports before the payment reached tokenchat are taken back when it does (the latest running total, not their sum)', async () => {
    const user = await newUser(pay.srv);
    const { order, outTradeNo } = await opened(user);
    pay.alipay.pay(outTradeNo); // its notification fails for now; the merchant refunds 1.00, then 2.00 more
    expect((await notify(pay.alipay.notification(outTradeNo, { refund_fee: '1.00', gmt_refund: '2026-12-06 20:00:00' }))).text).toBe('success');
    expect((await notify(pay.alipay.notification(outTradeNo, { refund_fee: '3.00', gmt_refund: '2026-12-06 20:01:00' }))).text).toBe('success');
    expect(await balanceOf(pay, user)).toBe(0);
    await notify(pay.alipay.notification(outTradeNo));
    expect(await balanceOf(pay, user)).toBe(70_000);
    expect(await pay.srv.sql.get('SELECT state, refunded, tokens_back FROM orders WHERE id = ?', order.id)).toEqual({ state: 'partly_refunded', refunded: 300, tokens_back: 30_000 });
    await ledgerClean(pay);
  });

  test('the same notification three times at once credits once', async () => {
    const user = await newUser(pay.srv);
    const { outTradeNo } = await opened(user);
    pay.alipay.pay(outTradeNo);
    const note = pay.alipay.notification(outTradeNo);
    const answers = await Promise.all([notify(note), notify(note), notify(note)]);
    expect(answers.map((a) => a.text)).toEqual(['success', 'success', 'success']);
    expect(await balanceOf(pay, user)).toBe(100_000);
    expect(await purchases(pay, user)).toBe(1);
    await ledgerClean(pay);
  });

  test('a payment whose notification never comes is found by the sweep and credited once; an unpaid one is closed and expired', async () => {
    const user = await newUser(pay.srv);
    const paid = await opened(user);
    const unpaid = await opened(user);
    pay.alipay.pay(paid.outTradeNo);
    const soon = new Date(Date.now() + 2 * 60_000);
    await sweepTrades(pay.srv.database, pay.gateways, soon);
    await sweepTrades(pay.srv.database, pay.gateways, soon);
    expect(await balanceOf(pay, user)).toBe(100_000);
    expect(await purchases(pay, user)).toBe(1);
    expect((await notify(pay.alipay.notification(paid.outTradeNo))).text).toBe('success'); // the late notification: nothing more
    expect(await balanceOf(pay, user)).toBe(100_000);
    expect(await pay.srv.sql.value('SELECT state FROM orders WHERE id = ?', unpaid.order.id)).toBe('pending');
    // Past its expiry: closed at Alipay, then expired here.
    await sweepTrades(pay.srv.database, pay.gateways, new Date(Date.parse(unpaid.order.expires_at) + 2 * 60_000));
    expect(pay.alipay.trades.get(unpaid.outTradeNo)!.status).toBe('TRADE_CLOSED');
    expect(await pay.srv.sql.value('SELECT state FROM orders WHERE id = ?', unpaid.order.id)).toBe('expired');
    await ledgerClean(pay);
  });

  test("a refund from the admin's order page takes back the pro-rata share, once per request", async () => {
    const user = await newUser(pay.srv);
    const { order, outTradeNo } = await opened(user);
    pay.alipay.pay(outTradeNo);
    await notify(pay.alipay.notification(outTradeNo));
    const admin = await newAdmin(pay);
    expect((await admin.agent.post(`/admin/orders/${order.id}/refund`).type('form').send({ amount: '10.00', request_id: 'no-csrf-token-1' })).status).toBe(403);
    expect((await refundFromPage(admin, order.id, '10.01')).res.status).toBe(422);
    expect((await refundFromPage(admin, order.id, 'abc')).res.status).toBe(422);
    const { res, requestId } = await refundFromPage(admin, order.id, '3.00');
    expect(res.status).toBe(303);
    expect(await balanceOf(pay, user)).toBe(70_000); // 30% of 100,000
    // The same form sent again (a double click) is the same refund.
    expect((await refundFromPage(admin, order.id, '3.00', requestId)).res.status).toBe(303);
    expect(await balanceOf(pay, user)).toBe(70_000);
    // Alipay's refund notification says the same total: nothing more.
    await notify(pay.alipay.notification(outTradeNo, { refund_fee: '3.00', gmt_refund: '2026-12-06 12:01:00' }));
    expect(await pay.srv.sql.get('SELECT state, refunded, tokens_back FROM orders WHERE id = ?', order.id)).toEqual({ state: 'partly_refunded', refunded: 300, tokens_back: 30_000 });
    expect((await admin.agent.get(`/admin/orders/${order.id}`)).text).toContain('Partly refunded');
    expect(await pay.srv.sql.value("SELECT count(*) FROM admin_audit WHERE action = 'order_refund_asked' AND actor_id = ?", admin.id)).toBe(2);
    expect((await user.agent.get(`/admin/orders/${order.id}`)).status).toBe(404);
    await ledgerClean(pay);
  });
});
