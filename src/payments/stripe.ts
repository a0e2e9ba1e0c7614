// Stripe: the only module that talks to it, through the official `stripe` package. It makes the
// Checkout session of an order and verifies a webhook's signature; what an event does to an order
// and the ledger is orders.ts's.
import Stripe from 'stripe';
import type { OrderRow } from '../storage/queries/payments';

export interface StripeSettings {
  secretKey: string;
  webhookSecret: string;
  /** Where users reach this server (the return links), e.g. https://chat.example.com. */
  publicUrl: string;
  /** How long a Checkout session stays open (Stripe takes 30 minutes to 24 hours). */
  checkoutMinutes: number;
  /** Another API address (stripe-mock, tests); unset: Stripe's. */
  apiUrl?: string;
}

export interface CheckoutSession {
  id: string;
  url: string;
  expiresAt: string;
}

/** A Stripe event as far as tokenchat reads it. */
export interface PaymentEvent {
  id: string;
  type: string;
  data: { object: Record<string, unknown> };
}

export interface PaymentGateway {
  /** Opens Checkout for the order; asked again for the same order, Stripe answers the same session. */
  checkout(order: OrderRow, locale: string): Promise<CheckoutSession>;
  /** The event, when the signature over the raw body is Stripe's and recent; throws otherwise. */
  verify(rawBody: Buffer, signature: string | undefined): PaymentEvent;
}

export class SignatureError extends Error {}

/** When a new order's Checkout session closes: Stripe takes at least 30 minutes after it makes the session, so 2 more for the way there. */
export const checkoutClosesAt = (settings: Pick<StripeSettings, 'checkoutMinutes'>, now = Date.now()) => new Date(now + (settings.checkoutMinutes + 2) * 60_000).toISOString();

/** Stripe refused a repeated request (an idempotency key reused with other parameters, or one still running): not a failed order. */
export const isIdempotencyError = (err: unknown) => err instanceof Stripe.errors.StripeIdempotencyError;

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
