// The settings of Alipay and WeChat Pay: each all-or-nothing with PUBLIC_URL and PACKAGES_FILE,
// naming what is missing; key files checked at start-up, naming the setting; and the order the
// Recharge page offers the methods in (Chinese methods first for a reader of Chinese).
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from '../src/config';
import { alipayGateway } from '../src/payments/alipay';
import { KeyFileError } from '../src/payments/key-files';
import { loadPackages } from '../src/payments/packages';
import { deviceOf, fen, outTradeNoOf, yuan } from '../src/payments/trade-gateway';
import { COMPUTER, PHONE } from './cn-pay-helpers';
import { methodsFor } from '../src/http/routes/payments';
import type { Payments } from '../src/http/context';
import type { PaymentGateway } from '../src/payments/stripe';
import type { TradeGateway } from '../src/payments/trade-gateway';
import { startFakeAlipay } from './fake-alipay';
import { startFakeWechatPay } from './fake-wechatpay';
import { tempDir } from './helpers';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const shared = { PUBLIC_URL: 'https://chat.example.com', PACKAGES_FILE: path.join(dir, 'packages.json') };

test('each gateway takes all its settings with PUBLIC_URL and PACKAGES_FILE, naming the missing ones', async () => {
  const [alipay, wechat] = await Promise.all([startFakeAlipay(dir), startFakeWechatPay(dir)]);
  await Promise.all([alipay.close(), wechat.close()]);
  expect(() => loadConfig({ ALIPAY_APP_ID: alipay.appId })).toThrow(ConfigError);
  expect(() => loadConfig({ ALIPAY_APP_ID: alipay.appId })).toThrow('ALIPAY_PRIVATE_KEY_FILE, ALIPAY_PUBLIC_KEY_FILE, PUBLIC_URL, PACKAGES_FILE are not set');
  expect(() => loadConfig({ ...wechat.env, WECHATPAY_APIV3_KEY_FILE: undefined, ...shared })).toThrow('paying by WeChat Pay takes');
  expect(() => loadConfig({ ...wechat.env, WECHATPAY_APIV3_KEY_FILE: undefined, ...shared })).toThrow('WECHATPAY_APIV3_KEY_FILE is not set');
  expect(() => loadConfig({ ALIPAY_APP_ID: 'abc' })).toThrow('ALIPAY_APP_ID must be the app id');
  expect(() => loadConfig({ WECHATPAY_APPID: 'nope' })).toThrow('WECHATPAY_APPID must be an AppID');
  // Alipay alone, without Stripe: PUBLIC_URL and PACKAGES_FILE are not a half-set Stripe.
  const c = loadConfig({ ...alipay.env, ...shared });
  expect(c.payments).toBeUndefined();
  expect(c.wechatPay).toBeUndefined();
  expect(c.alipay).toMatchObject({ appId: alipay.appId, privateKeyFile: alipay.env.ALIPAY_PRIVATE_KEY_FILE });
  expect(c.packagesFile).toBe(shared.PACKAGES_FILE);
  // The keys themselves are in files, never in the settings.
  expect(JSON.stringify(c)).not.toContain('PRIVATE KEY');
  expect(() => loadConfig({ PACKAGES_FILE: shared.PACKAGES_FILE })).toThrow('STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, PUBLIC_URL are not set');
});

test('a key file that cannot be read or is not a key stops start-up, naming its setting', async () => {
  const alipay = await startFakeAlipay(dir);
  await alipay.close();
  const settings = { appId: alipay.appId, privateKeyFile: alipay.env.ALIPAY_PRIVATE_KEY_FILE!, publicKeyFile: alipay.env.ALIPAY_PUBLIC_KEY_FILE! };
  expect(() => alipayGateway({ ...settings, privateKeyFile: path.join(dir, 'missing.pem') }, 'https://x.example')).toThrow(KeyFileError);
  expect(() => alipayGateway({ ...settings, privateKeyFile: path.join(dir, 'missing.pem') }, 'https://x.example')).toThrow('ALIPAY_PRIVATE_KEY_FILE');
  const junk = path.join(dir, 'junk.pem');
  fs.writeFileSync(junk, 'not a key');
  expect(() => alipayGateway({ ...settings, publicKeyFile: junk }, 'https://x.example')).toThrow('ALIPAY_PUBLIC_KEY_FILE');
  expect(() => alipayGateway(settings, 'https://x.example')).not.toThrow(); // bare base64 PKCS#1, as Alipay hands it out
});

test('the Recharge page offers Alipay and WeChat Pay first to a reader of Chinese, and only for prices in yuan', () => {
  fs.writeFileSync(shared.PACKAGES_FILE, JSON.stringify({ packages: [{ id: 'a', name: 'A', tokens: 1, price: '1', currency: 'cny' }] }));
  const payments: Payments = {
    catalogue: loadPackages(shared.PACKAGES_FILE), checkoutMinutes: 30,
    gateway: {} as PaymentGateway, trades: { alipay: {} as TradeGateway, wechat: {} as TradeGateway },
  };
  expect(methodsFor(payments, 'cny', 'zh-CN')).toEqual(['alipay', 'wechat', 'stripe']);
  expect(methodsFor(payments, 'cny', 'en')).toEqual(['stripe', 'alipay', 'wechat']);
  expect(methodsFor(payments, 'usd', 'zh-CN')).toEqual(['stripe']);
  expect(methodsFor({ ...payments, gateway: undefined }, 'usd', 'en')).toEqual([]);
});

test('amounts and trade numbers as the gateways take them', () => {
  expect(yuan(1000)).toBe('10.00');
  expect(yuan(5)).toBe('0.05');
  expect([fen('10.00'), fen('10'), fen('0.5'), fen('1.005'), fen('-1'), fen(10)]).toEqual([1000, 1000, 50, null, null, null]);
  const no = outTradeNoOf({ id: 123456789, createdAt: '2026-12-06T11:30:12.345Z' });
  expect(no).toBe('tc123456789_20261206113012345');
  expect(no.length).toBeLessThanOrEqual(32);
  expect([deviceOf(PHONE), deviceOf(COMPUTER), deviceOf(undefined), deviceOf(`${PHONE} MicroMessenger/8.0.50`)]).toEqual(['phone', 'computer', 'computer', 'computer']);
});
