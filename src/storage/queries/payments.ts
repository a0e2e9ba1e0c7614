// Queries of the payments domain (payments/orders.ts; see queries/index.ts).
import type { Changes, Q } from './shape';

export type OrderState = 'pending' | 'paid' | 'expired' | 'failed' | 'partly_refunded' | 'refunded';
/** The gateway an order is paid through. */
export type PayMethod = 'stripe' | 'alipay' | 'wechat';

export interface OrderRow {
  id: number;
  userId: number;
  packageId: string;
  packageName: string;
  tokens: number;
  amount: number;
  currency: string;
  state: OrderState;
  method: PayMethod;
  sessionId: string | null;
  checkoutUrl: string | null;
  expiresAt: string | null;
  paidAt: string | null;
  paymentIntent: string | null;
  receiptUrl: string | null;
  refunded: number;
  tokensBack: number;
  createdAt: string;
}

export interface PaymentEventRow {
  eventId: string;
  type: string;
  orderId: number | null;
  ref: string | null;
  outcome: string;
  detail: string;
  receivedAt: string;
}

export interface OrderDay {
  day: string;
  currency: string;
  orders: number;
  amount: number;
  refunded: number;
  tokens: number;
}

export interface PaymentQueries {
  /** A new pending order; undefined when the user's form id was used before (a double submit). */
  'payments.newOrder': Q<
    { userId: number; packageId: string; packageName: string; tokens: number; amount: number; currency: string; formId: string; expiresAt: string; method: PayMethod },
    number | undefined
  >;
  'payments.orderByForm': Q<{ userId: number; formId: string }, OrderRow | undefined>;
  'payments.order': Q<{ id: number }, OrderRow | undefined>;
  /** The order a Checkout session is for, locked for the transaction (PostgreSQL). */
  'payments.orderBySession': Q<{ sessionId: string }, OrderRow | undefined>;
  /** The order a payment intent paid, locked for the transaction (PostgreSQL). */
  'payments.orderByIntent': Q<{ paymentIntent: string }, OrderRow | undefined>;
  /** Gives a pending order its Checkout session; nothing when it has another one or is no longer pending. */
  'payments.attachSession': Q<{ id: number; sessionId: string; checkoutUrl: string }, Changes>;
  /**
   * Serialises what concerns one payment intent (its payment and its refunds) across processes
   * for the transaction (PostgreSQL; SQLite's write lock already does).
   */
  'payments.lockIntent': Q<{ paymentIntent: string }, unknown>;
  /** Marks a pending order paid (or an expired or failed one: a verified, matching payment is always credited). */
  'payments.markPaid': Q<{ id: number; paymentIntent: string | null }, Changes>;
  /** Moves an order from one state to another; nothing when it is not in `from`. */
  'payments.moveState': Q<{ id: number; from: OrderState; to: OrderState }, Changes>;
  'payments.markRefunded': Q<{ id: number; refunded: number; tokensBack: number; state: OrderState }, Changes>;
  'payments.setReceipt': Q<{ id: number; receiptUrl: string }, Changes>;
  /**
   * Pending orders open until before @before that nothing will report on, oldest first: Stripe's (its expiry
   * event never came), and Alipay's or WeChat Pay's whose trade was never opened (the sweep closes the others).
   */
  'payments.stalePending': Q<{ before: string; limit: number }, OrderRow[]>;
  /**
   * Alipay and WeChat Pay orders still pending whose trade was opened before @before (their
   * notification is late), the ones asked about longest ago first.
   */
  'payments.gatewayPending': Q<{ before: string; limit: number }, OrderRow[]>;
  /** Refunds a gateway accepted but had not finished when asked (WeChat Pay's "processing"), oldest first. */
  'payments.pendingRefunds': Q<{ limit: number }, Array<{ eventId: string; orderId: number; detail: string }>>;
  /** When the sweep last asked the gateway about an order. */
  'payments.checked': Q<{ id: number; at: string }, Changes>;
  /** Keeps an event once: no change when its id was seen before (a repeated delivery). */
  'payments.recordEvent': Q<{ eventId: string; type: string; ref: string | null }, Changes>;
  'payments.eventOutcome': Q<{ eventId: string; outcome: string; orderId: number | null; detail: string }, Changes>;
  /** The largest refund reported for a payment intent before its order was paid here (a running total: the largest is the latest). */
  'payments.earlyRefund': Q<{ paymentIntent: string }, { eventId: string; detail: string } | undefined>;
  /** Those early refund events, once applied. */
  'payments.earlyRefundsDone': Q<{ paymentIntent: string; orderId: number }, Changes>;
  /** Alipay or WeChat Pay refunds reported for a trade before its payment was credited here (kept as early_refund). */
  'payments.earlyTradeRefunds': Q<{ ref: string; type: string }, Array<{ eventId: string; detail: string }>>;
  /** Those early refunds, once applied. */
  'payments.earlyTradeRefundsDone': Q<{ ref: string; type: string }, Changes>;
  /** The receipt a charge event left for a payment intent before its order was known. */
  'payments.receiptFor': Q<{ paymentIntent: string }, string | undefined>;
  'payments.ordersOfUser': Q<{ userId: number; limit: number; offset: number }, OrderRow[]>;
  /** Orders, newest first; @q matches a username, an order id or a session id (null: all). */
  'payments.ordersPage': Q<{ q: string | null; limit: number; offset: number }, Array<OrderRow & { username: string }>>;
  /** Paid orders per UTC day and currency since @since. */
  'payments.days': Q<{ since: string }, OrderDay[]>;
  /** Paid sessions nothing was credited for (unknown order, amounts that do not match), newest first. */
  'payments.issues': Q<{ limit: number }, PaymentEventRow[]>;
  /** Users who owe tokens from refunds. */
  'payments.owing': Q<{ limit: number }, Array<{ userId: number; username: string; owed: number }>>;
}
