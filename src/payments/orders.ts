// Orders: a user's purchase of a package, from pending (before Checkout) to paid, expired, failed
// or refunded. The balance grows only here, from a verified Stripe event, in the transaction that
// marks the order paid: one `purchase` ledger row per order (a UNIQUE index), whatever Stripe
// delivers and however often. Each event is kept by its id, so a repeated delivery (or the same
// event on two processes at once) does nothing the second time. Every state change is audited.
import { recordAudit } from '../admin/actions';
import { creditPurchase, takeBack } from '../ledger/ledger';
import { pageOf, pageWindow, query, type Op } from '../storage/op';
import type { OrderRow, OrderState, PayMethod } from '../storage/queries/payments';
import type { Package } from './packages';
import type { PaymentEvent } from './stripe';

export type { OrderRow, OrderState, PayMethod } from '../storage/queries/payments';

/** A pending order for the package, open until `expiresAt`; the same one again for a form sent twice. */
export function* createOrder(userId: number, pkg: Package, packageName: string, formId: string, expiresAt: string, method: PayMethod = 'stripe'): Op<OrderRow> {
  const id = yield* query('payments.newOrder', { userId, packageId: pkg.id, packageName, tokens: pkg.tokens, amount: pkg.amount, currency: pkg.currency, formId, expiresAt, method });
  if (id === undefined) return (yield* query('payments.orderByForm', { userId, formId }))!;
  yield* recordAudit(userId, 'order_create', userId, { order: id, package: pkg.id, tokens: pkg.tokens, amount: pkg.amount, currency: pkg.currency, method });
  return (yield* query('payments.order', { id }))!;
}

/** Whether the pending order took this Checkout session (not when it has another, or is no longer pending). */
export function* attachSession(orderId: number, session: { id: string; url: string }): Op<boolean> {
  return (yield* query('payments.attachSession', { id: orderId, sessionId: session.id, checkoutUrl: session.url })).changes === 1;
}

/** Checkout could not be opened (Stripe down, refused): the order will never be paid. */
export function* failOrder(order: OrderRow, why: string): Op<void> {
  if ((yield* query('payments.moveState', { id: order.id, from: 'pending', to: 'failed' })).changes) {
    yield* recordAudit(null, 'order_failed', order.userId, { order: order.id, why });
  }
}

/**
 * Expires pending orders whose Checkout closed more than an hour ago without Stripe's
 * `checkout.session.expired` reaching us (a webhook not subscribed to it, or lost); each one
 * audited. A delayed payment that clears later still credits an expired order.
 */
export function* expireStale(now: Date, limit = 100): Op<number> {
  const before = new Date(now.getTime() - 3_600_000).toISOString();
  let expired = 0;
  for (const order of yield* query('payments.stalePending', { before, limit })) {
    if ((yield* query('payments.moveState', { id: order.id, from: 'pending', to: 'expired' })).changes) {
      yield* recordAudit(null, 'order_expired', order.userId, { order: order.id, why: 'checkout closed' });
      expired++;
    }
  }
  return expired;
}

/** The user's own order (another user's is not found). */
export function* ownOrder(userId: number, id: number): Op<OrderRow | undefined> {
  const order = yield* query('payments.order', { id });
  return order?.userId === userId ? order : undefined;
}

export function* ordersOfUser(userId: number, page: number, perPage = 50) {
  return pageOf(yield* query('payments.ordersOfUser', { userId, ...pageWindow(page, perPage) }), perPage);
}

export function* ordersPage(q: string | null, page: number, perPage = 50) {
  return pageOf(yield* query('payments.ordersPage', { q, ...pageWindow(page, perPage) }), perPage);
}

/** What the admin Orders page shows beside the list: paid per day, events that credited nothing, who owes tokens. */
export function* ordersOverview(since: string) {
  return {
    days: yield* query('payments.days', { since }),
    issues: yield* query('payments.issues', { limit: 50 }),
    owing: yield* query('payments.owing', { limit: 50 }),
  };
}

/** The events that change an order; every other type is answered 2xx and not kept. */
export const HANDLED_EVENTS: ReadonlySet<string> = new Set([
  'checkout.session.completed', 'checkout.session.async_payment_succeeded', 'checkout.session.async_payment_failed',
  'checkout.session.expired', 'charge.succeeded', 'charge.refunded',
]);

export type EventOutcome =
  | 'duplicate' | 'ignored' | 'credited' | 'waiting' | 'already' | 'expired' | 'failed' | 'refunded' | 'receipt'
  | 'unknown_order' | 'mismatch' | 'early_refund';

export interface Handled {
  outcome: EventOutcome;
  order?: OrderRow;
  detail?: Record<string, unknown>;
}

const text = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);
/** A link the pages may show: Stripe's receipts are https; anything else is dropped. */
const httpsUrl = (v: unknown): string | null => (typeof v === 'string' && /^https:\/\/[^\s"'<>]+$/.test(v) ? v : null);
const whole = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null);

/**
 * What a verified event does, in one write transaction: kept by its id first (a second delivery
 * stops there), then the order's change and its ledger rows and audit row.
 */
export function* handleEvent(event: PaymentEvent): Op<EventOutcome> {
  if (!HANDLED_EVENTS.has(event.type)) return 'ignored';
  const object = event.data.object;
  const ref = event.type.startsWith('charge.') ? text(object.payment_intent) : text(object.id);
  const kept = yield* query('payments.recordEvent', { eventId: event.id, type: event.type, ref });
  if (kept.changes === 0) return 'duplicate';
  const handled = event.type.startsWith('charge.') ? yield* onCharge(event) : yield* onSession(event);
  yield* query('payments.eventOutcome', { eventId: event.id, outcome: handled.outcome, orderId: handled.order?.id ?? null, detail: JSON.stringify(handled.detail ?? {}) });
  return handled.outcome;
}

function* onSession(event: PaymentEvent): Op<Handled> {
  const session = event.data.object;
  const sessionId = text(session.id) ?? '';
  const order = yield* query('payments.orderBySession', { sessionId });
  const seen = { session: sessionId, amount: whole(session.amount_total), currency: text(session.currency), client_reference_id: text(session.client_reference_id) };
  // A paid session with no order here is for the admin; an expired or unpaid one (a Payment Link, `stripe trigger`) is not.
  const paid = event.type === 'checkout.session.async_payment_succeeded' || (event.type === 'checkout.session.completed' && session.payment_status === 'paid');
  if (!order) return { outcome: paid ? 'unknown_order' : 'ignored', detail: seen };
  if (event.type === 'checkout.session.expired') return yield* moved(order, 'pending', 'expired', 'order_expired');
  if (event.type === 'checkout.session.async_payment_failed') return yield* moved(order, 'pending', 'failed', 'order_failed');
  // Completed is paid only with payment_status "paid"; a delayed method (a bank debit) is paid later, by async_payment_succeeded.
  if (event.type === 'checkout.session.completed' && session.payment_status !== 'paid') return { outcome: 'waiting', order };
  const metadata = (session.metadata ?? {}) as Record<string, unknown>;
  if (seen.amount !== order.amount || seen.currency !== order.currency || seen.client_reference_id !== String(order.userId) || metadata.order_id !== String(order.id)) {
    yield* recordAudit(null, 'payment_mismatch', order.userId, { order: order.id, expected: { amount: order.amount, currency: order.currency, user: order.userId }, seen });
    return { outcome: 'mismatch', order, detail: seen };
  }
  const paymentIntent = text(session.payment_intent);
  if (!(yield* query('payments.markPaid', { id: order.id, paymentIntent })).changes) return { outcome: 'already', order };
  // A refund of this payment being handled at this moment on another process waits, or waits for this (see onCharge).
  if (paymentIntent) yield* query('payments.lockIntent', { paymentIntent });
  const { balance, repaid } = yield* creditPurchase(order.userId, order.id, order.tokens);
  yield* recordAudit(null, 'order_paid', order.userId, { order: order.id, tokens: order.tokens, amount: order.amount, currency: order.currency, repaid, balance, event: event.id });
  if (paymentIntent) {
    const receiptUrl = httpsUrl(yield* query('payments.receiptFor', { paymentIntent }));
    if (receiptUrl) yield* query('payments.setReceipt', { id: order.id, receiptUrl });
    // A refund Stripe reported before this payment reached us (its event failed for a while) was
    // kept as "no such order": it is applied now, so the tokens are not credited in full for good.
    const early = yield* query('payments.earlyRefund', { paymentIntent });
    if (early) {
      const paid = (yield* query('payments.order', { id: order.id }))!;
      const detail = JSON.parse(early.detail) as { amount_refunded?: unknown; currency?: unknown };
      yield* refund(paid, whole(detail.amount_refunded) ?? 0, text(detail.currency), early.eventId);
      yield* query('payments.earlyRefundsDone', { paymentIntent, orderId: order.id });
    }
  }
  return { outcome: 'credited', order };
}

function* moved(order: OrderRow, from: OrderState, to: OrderState, action: 'order_expired' | 'order_failed'): Op<Handled> {
  if (!(yield* query('payments.moveState', { id: order.id, from, to })).changes) return { outcome: 'already', order };
  yield* recordAudit(null, action, order.userId, { order: order.id });
  return { outcome: to === 'expired' ? 'expired' : 'failed', order };
}

function* onCharge(event: PaymentEvent): Op<Handled> {
  const charge = event.data.object;
  const paymentIntent = text(charge.payment_intent) ?? '';
  const receiptUrl = httpsUrl(charge.receipt_url);
  // The payment this charge belongs to may be committing on another process right now: its order
  // is found by the intent only once it has, so both take the intent's lock first.
  yield* query('payments.lockIntent', { paymentIntent });
  const order = yield* query('payments.orderByIntent', { paymentIntent });
  if (event.type === 'charge.succeeded') {
    // Often before the session's event: kept in the event's detail, found when the order is paid.
    if (order && receiptUrl) yield* query('payments.setReceipt', { id: order.id, receiptUrl });
    return { outcome: 'receipt', ...(order && { order }), detail: { receipt_url: receiptUrl } };
  }
  const amountRefunded = whole(charge.amount_refunded) ?? 0;
  const currency = text(charge.currency);
  if (!order) return { outcome: 'unknown_order', detail: { payment_intent: paymentIntent, amount_refunded: amountRefunded, currency } };
  if (receiptUrl) yield* query('payments.setReceipt', { id: order.id, receiptUrl });
  return yield* refund(order, amountRefunded, currency, event.id);
}

/**
 * Brings the order's refund up to `amountRefunded` (the charge's running total): the tokens of the
 * refunded share, rounded up, less what earlier refunds took back; from the balance, the rest owed.
 */
export function* refund(order: OrderRow, amountRefunded: number, currency: string | null, eventId: string): Op<Handled> {
  if (order.state !== 'paid' && order.state !== 'partly_refunded') return { outcome: 'already', order };
  if (currency !== order.currency) {
    yield* recordAudit(null, 'payment_mismatch', order.userId, { order: order.id, expected: { currency: order.currency }, seen: { currency, refunded: amountRefunded }, event: eventId });
    return { outcome: 'mismatch', order, detail: { currency, amount_refunded: amountRefunded } };
  }
  const refunded = Math.min(amountRefunded, order.amount);
  if (refunded <= order.refunded) return { outcome: 'already', order };
  const due = Number((BigInt(order.tokens) * BigInt(refunded) + BigInt(order.amount) - 1n) / BigInt(order.amount)) - order.tokensBack;
  const state: OrderState = refunded >= order.amount ? 'refunded' : 'partly_refunded';
  yield* query('payments.markRefunded', { id: order.id, refunded, tokensBack: order.tokensBack + due, state });
  const back = yield* takeBack(order.userId, order.id, due);
  yield* recordAudit(null, 'order_refunded', order.userId, { order: order.id, refunded, amount: order.amount, currency: order.currency, tokens: due, taken: back.taken, owed: back.owed, event: eventId });
  return { outcome: 'refunded', order, detail: { refunded, tokens: due, taken: back.taken, owed: back.owed } };
}
