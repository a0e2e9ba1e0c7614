// Stripe Checkout: the only module that talks to Stripe, through the official `stripe` package. It
// makes the Checkout session of an order and verifies a webhook's signature. Loaded only when Stripe
// is configured (payments/setup.ts): the package is hundreds of files no other server needs.
import Stripe from 'stripe';
import type { OrderRow } from '../storage/queries/payments';
import { SignatureError, type PaymentEvent, type PaymentGateway, type StripeSettings } from './stripe';

export function stripeGateway(settings: StripeSettings): PaymentGateway {
  const api = settings.apiUrl ? new URL(settings.apiUrl) : undefined;
  const stripe = new Stripe(settings.secretKey, {
    maxNetworkRetries: 1, // safe: every creation carries an idempotency key
    timeout: 20_000,
    telemetry: false,
    appInfo: { name: 'tokenchat' },
    ...(api && { host: api.hostname, port: Number(api.port || (api.protocol === 'https:' ? 443 : 80)), protocol: api.protocol.replace(':', '') as 'http' | 'https' }),
  });
  const back = (order: OrderRow, extra = '') => `${settings.publicUrl.replace(/\/$/, '')}/recharge/orders/${order.id}${extra}`;
  return {
    async checkout(order, locale) {
      const session = await stripe.checkout.sessions.create(
        {
          mode: 'payment',
          line_items: [{ quantity: 1, price_data: { currency: order.currency, unit_amount: order.amount, product_data: { name: order.packageName } } }],
          // The payment methods are the account's (Dashboard → Payment methods): cards, and Alipay
          // and WeChat Pay where they are switched on.
          client_reference_id: String(order.userId),
          metadata: { order_id: String(order.id), user_id: String(order.userId) },
          payment_intent_data: { metadata: { order_id: String(order.id) } },
          success_url: back(order),
          cancel_url: back(order, '?cancelled=1'),
          // The order's, fixed when it was made: a retry with the same idempotency key sends the same parameters.
          expires_at: Math.floor(Date.parse(order.expiresAt!) / 1000),
          locale: locale === 'zh-CN' ? 'zh' : 'en',
        },
        { idempotencyKey: `tokenchat-order-${order.id}` },
      );
      if (!session.url) throw new Error(`Stripe gave checkout session ${session.id} no url`);
      return { id: session.id, url: session.url, expiresAt: new Date(session.expires_at * 1000).toISOString() };
    },
    verify(rawBody, signature) {
      if (!signature) throw new SignatureError('no Stripe-Signature header');
      try {
        // Checks the signature over these exact bytes and a timestamp within 5 minutes (replays).
        return stripe.webhooks.constructEvent(rawBody, signature, settings.webhookSecret) as unknown as PaymentEvent;
      } catch (err) {
        throw new SignatureError((err as Error).message);
      }
    },
  };
}
