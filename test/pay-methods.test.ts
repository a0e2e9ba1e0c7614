// Stripe, Alipay and WeChat Pay on one server: the Recharge page offers every method a package can
// be paid with (Alipay and WeChat Pay first for a reader of Chinese, only for prices in yuan), each
// button leads to its own gateway, the content security policy lets the Pay form lead to each
// gateway's page and no other, and a method not offered for a package makes no order.
import { newUser } from './chat-helpers';
import { startFakeStripe, type FakeStripe } from './fake-stripe';
import { buy, startCnPay, type CnPay } from './cn-pay-helpers';
import { csrfFrom } from './helpers';

let stripe: FakeStripe;
let pay: CnPay;
beforeAll(async () => {
  stripe = await startFakeStripe();
  pay = await startCnPay({ STRIPE_SECRET_KEY: 'sk_test_tokenchatFakeSecretKey0123456789', STRIPE_WEBHOOK_SECRET: 'whsec_tokenchatFakeWebhookSecret0123456789', STRIPE_API_URL: stripe.url });
});
afterAll(async () => {
  await pay.close();
  await stripe.close();
});

/** The methods of a package's buttons, in page order. */
const methodsOn = (html: string, pkg: string) => {
  const form = new RegExp(`<form[^>]*class="package">(?:(?!</form>)[\\s\\S])*value="${pkg}"[\\s\\S]*?</form>`).exec(html)?.[0] ?? '';
  return [...form.matchAll(/name="method" value="(\w+)"/g)].map((m) => m[1]);
};

test('every configured method is offered, Chinese ones first for a reader of Chinese, only for prices in yuan', async () => {
  const user = await newUser(pay.srv);
  const en = await user.agent.get('/recharge');
  expect(methodsOn(en.text, 'starter')).toEqual(['stripe', 'alipay', 'wechat']);
  const zh = await user.agent.get('/recharge').set('Accept-Language', 'zh-CN');
  expect(methodsOn(zh.text, 'starter')).toEqual(['alipay', 'wechat', 'stripe']);
  expect(zh.text).toContain('支付宝支付 ¥10.00');
  // A package in dollars: Stripe only, its one button as before.
  expect(methodsOn(en.text, 'dollar')).toEqual([]);
  expect(en.text).toContain('>Pay $1.50<');
  const formAction = /form-action ([^;]+)/.exec(String(en.headers['content-security-policy']))?.[1];
  expect(formAction).toBe(`'self' https://checkout.stripe.com ${pay.alipay.url} https://wx.tenpay.com`);
});

test('each button leads to its own gateway; a method not offered for the package makes no order', async () => {
  const user = await newUser(pay.srv);
  const card = await buy(pay, user, 'stripe');
  expect(card.res.headers.location).toMatch(/^https:\/\/checkout\.stripe\.com\//);
  expect(card.order).toMatchObject({ method: 'stripe' });
  const alipay = await buy(pay, user, 'alipay');
  expect(alipay.res.headers.location.startsWith(pay.alipay.url)).toBe(true);
  const wechat = await buy(pay, user, 'wechat');
  expect(wechat.res.headers.location).toBe(`/recharge/orders/${wechat.order.id}`);
  const page = await user.agent.get('/recharge');
  for (const method of ['alipay', 'paypal', 'wechat ']) {
    const res = await user.agent.post('/recharge/pay').type('form').send({ _csrf: csrfFrom(page.text), package: 'dollar', form_id: `f-${method.trim()}`, method });
    expect(res.status).toBe(422);
  }
  expect(await pay.srv.sql.value("SELECT count(*) FROM orders WHERE user_id = ? AND package_id = 'dollar'", user.id)).toBe(0);
  // The orders page names each method.
  const orders = await user.agent.get('/orders');
  for (const name of ['Card (Stripe)', 'Alipay', 'WeChat Pay']) expect(orders.text).toContain(name);
});
