// A server with no payment gateway configured loads none of their SDKs (hundreds of files and about
// half a second of every start); each is loaded when its gateway is. Runs the built server (dist/).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import Stripe from 'stripe';
import { isIdempotencyError } from '../src/payments/stripe';

const ROOT = path.join(__dirname, '..');
const SDKS = /node_modules[\\/](stripe|alipay-sdk|urllib|wechatpay-axios-plugin|axios|qrcode)[\\/]/;

/** The payment SDK packages loaded once `script` (the body of an async function) has run in a fresh node, by name. */
function sdksLoadedBy(script: string): string[] {
  const out = execFileSync(process.execPath, ['-e', `(async () => { ${script} })().then(() => {
    const names = Object.keys(require.cache).map((f) => (f.match(${SDKS.toString()}) || [])[1]).filter(Boolean);
    process.stdout.write(JSON.stringify([...new Set(names)].sort()));
  });`], { cwd: ROOT, encoding: 'utf8' });
  return JSON.parse(out) as string[];
}

test('the server and its routes load no payment SDK until a gateway is configured', () => {
  expect(sdksLoadedBy(`require('./dist/server.js'); require('./dist/http/app.js');`)).toEqual([]);
});

test('a configured gateway loads its own SDK and no other', () => {
  const packagesFile = path.join(ROOT, 'test', 'no-such-packages.json'); // refused after the gateways are built
  const stripe = { secretKey: 'sk_test_x', webhookSecret: 'whsec_x', publicUrl: 'https://x.example', checkoutMinutes: 30 };
  const open = (config: object) => `await require('./dist/payments/setup.js').openPayments(${JSON.stringify(config)}).catch(() => undefined);`;
  expect(sdksLoadedBy(open({ packagesFile }))).toEqual([]);
  expect(sdksLoadedBy(open({ packagesFile, payments: stripe }))).toEqual(['stripe']);
});

test('a repeated Checkout request Stripe refuses is told apart without loading Stripe in that module', () => {
  expect(isIdempotencyError(new Stripe.errors.StripeIdempotencyError({ message: 'Keys for idempotent requests…' }))).toBe(true);
  expect(isIdempotencyError(new Stripe.errors.StripeAPIError({ message: 'down' }))).toBe(false);
  expect(isIdempotencyError(Object.assign(new Error('x'), { type: 'other' }))).toBe(false);
  expect(isIdempotencyError('StripeIdempotencyError')).toBe(false);
});
