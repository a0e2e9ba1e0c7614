// Stripe: what the rest of tokenchat knows of it (settings, the gateway's shape, its errors), without
// the `stripe` package itself: stripe-checkout.ts loads that, and only when Stripe is configured.
// What an event does to an order and the ledger is orders.ts's.
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
// Told by the error's type name (the package sets it on each error class), so this module needs no
// Stripe package loaded to answer.
export const isIdempotencyError = (err: unknown) => err instanceof Error && (err as { type?: unknown }).type === 'StripeIdempotencyError';
