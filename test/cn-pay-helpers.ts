// A tokenchat server paying through the local fake Alipay and WeChat Pay (no Stripe), for
// test/alipay.test.ts and test/wechatpay.test.ts: buying from the Recharge page, the gateways as
// the server built them (for the minute sweep, run by hand), and the ledger check.
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { verifyLedger } from '../src/ledger/verify';
import { alipayGateway } from '../src/payments/alipay';
import { wechatPayGateway } from '../src/payments/wechatpay';
import type { TradeGateways } from '../src/payments/trade-gateway';
import { newUser, type User } from './chat-helpers';
import { startFakeAlipay, type FakeAlipay } from './fake-alipay';
import { startFakeWechatPay, type FakeWechatPay } from './fake-wechatpay';
import { csrfFrom, startTestServer, tempDir, type TestServer } from './helpers';

export const PHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148';
export const COMPUTER = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36';

export interface CnPay {
  srv: TestServer;
  alipay: FakeAlipay;
  wechat: FakeWechatPay;
  gateways: TradeGateways;
  dir: string;
  /** Everything the server logged, at debug level. */
  logs(): string;
  close(): Promise<void>;
}

/** `extra`: more settings (Stripe's, to have all three gateways). */
export async function startCnPay(extra: Record<string, string> = {}): Promise<CnPay> {
  const dir = tempDir();
  const packages = path.join(dir, 'packages.json');
  fs.writeFileSync(packages, JSON.stringify({
    version: 1,
    packages: [
      { id: 'starter', name: { en: 'Starter', 'zh-CN': '入门包' }, tokens: 100_000, price: '10', currency: 'cny' },
      { id: 'dollar', name: 'Dollar pack', tokens: 7_000, price: '1.50', currency: 'usd' },
    ],
  }));
  const [alipay, wechat] = await Promise.all([startFakeAlipay(dir), startFakeWechatPay(dir)]);
  const env = { PUBLIC_URL: 'https://chat.example.com', PACKAGES_FILE: packages, SIGNUP_BONUS: '0', LOGIN_RATE_LIMIT_PER_IP: '10000', ...alipay.env, ...wechat.env, ...extra };
  let logs = '';
  const sink = new Writable({ write: (chunk, _enc, done) => ((logs += String(chunk)), done()) });
  const srv = await startTestServer(env, { logger: pino({ level: 'debug' }, sink) });
  const gateways: TradeGateways = {
    alipay: alipayGateway(srv.config.alipay!, 'https://chat.example.com'),
    wechat: wechatPayGateway(srv.config.wechatPay!, 'https://chat.example.com'),
  };
  return {
    srv, alipay, wechat, gateways, dir, logs: () => logs,
    close: async () => {
      await srv.close();
      await Promise.all([alipay.close(), wechat.close()]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Presses Pay with the method on the Recharge page: the answer, and the order it made. */
export async function buy(pay: CnPay, user: User, method: 'stripe' | 'alipay' | 'wechat', userAgent = COMPUTER, pkg = 'starter') {
  const page = await user.agent.get('/recharge').set('user-agent', userAgent);
  const formId = new RegExp(`name="package" value="${pkg}">\\s*<input type="hidden" name="form_id" value="([^"]+)"`).exec(page.text)?.[1];
  expect(formId).toBeDefined();
  const res = await user.agent.post('/recharge/pay').set('user-agent', userAgent).type('form').send({ _csrf: csrfFrom(page.text), package: pkg, form_id: formId!, method });
  const order = await pay.srv.sql.get('SELECT * FROM orders WHERE user_id = ? ORDER BY id DESC LIMIT 1', user.id);
  return { res, order, outTradeNo: order?.session_id as string, formId: formId!, csrf: csrfFrom(page.text) };
}

export const balanceOf = async (pay: CnPay, user: User) => (await pay.srv.sql.value<number>('SELECT balance FROM balances WHERE user_id = ?', user.id)) ?? 0;
export const purchases = async (pay: CnPay, user: User) => pay.srv.sql.value<number>("SELECT count(*) FROM ledger WHERE user_id = ? AND kind = 'purchase'", user.id);
export const ledgerClean = async (pay: CnPay) => expect(await pay.srv.database.read(verifyLedger, 3_600_000)).toEqual([]);

export async function newAdmin(pay: CnPay): Promise<User> {
  const admin = await newUser(pay.srv);
  await pay.srv.sql.run(`UPDATE users SET role = 'admin' WHERE id = ?`, admin.id);
  return admin;
}

/** Asks for a refund of `amount` (yuan) on the admin's order page; the same form twice sends the same request id. */
export async function refundFromPage(admin: User, orderId: number, amount: string, requestId?: string) {
  const page = await admin.agent.get(`/admin/orders/${orderId}`);
  expect(page.status).toBe(200);
  const id = requestId ?? /name="request_id" value="([^"]+)"/.exec(page.text)?.[1];
  const res = await admin.agent.post(`/admin/orders/${orderId}/refund`).type('form').send({ _csrf: csrfFrom(page.text), request_id: id!, amount });
  return { res, requestId: id! };
}
