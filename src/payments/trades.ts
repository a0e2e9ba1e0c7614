// What a verified Alipay or WeChat Pay fact does to an order and the ledger, under the rules
// Stripe's events follow (orders.ts): kept once by its id (a repeated notification, or the same one
// on two processes at once, stops there); a payment must match the order (amount, currency, the
// merchant and app it names) or nothing is credited and it is listed for the admin; one `purchase`
// ledger row per order; refunds take back the refunded share, the rest owed. Every change audited.
// The minute sweep asks the gateway about orders whose notification is late, and closes and
// expires the ones never paid.
import { recordAudit } from '../admin/actions';
import { creditPurchase } from '../ledger/ledger';
import { query, type Op, type Store } from '../storage/op';
import type { OrderRow } from '../storage/queries/payments';
import { refund, type EventOutcome, type Handled } from './orders';
import type { Merchant, TradeFact, TradeGateways, TradeMethod } from './trade-gateway';

/** Handles a verified fact in one write transaction. */
export function* handleTrade(method: TradeMethod, fact: TradeFact, expects: Merchant): Op<EventOutcome> {
  const kept = yield* query('payments.recordEvent', { eventId: fact.eventId, type: `${method}.${fact.kind}`, ref: fact.outTradeNo || null });
  if (kept.changes === 0) return 'duplicate';
  const handled = yield* onTrade(method, fact, expects);
  const detail = { ...handled.detail, merchant: fact.merchant, ...(fact.app !== undefined && { app: fact.app }) };
  yield* query('payments.eventOutcome', { eventId: fact.eventId, outcome: handled.outcome, orderId: handled.order?.id ?? null, detail: JSON.stringify(detail) });
  return handled.outcome;
}

function* onTrade(method: TradeMethod, fact: TradeFact, expects: Merchant): Op<Handled> {
  // Locked for the transaction (PostgreSQL): a payment and its refund on two processes take turns.
  const found = fact.outTradeNo ? yield* query('payments.orderBySession', { sessionId: fact.outTradeNo }) : undefined;
  const order = found?.method === method ? found : undefined;
  const seen = { out_trade_no: fact.outTradeNo, ...(fact.kind === 'paid' && { trade_no: fact.tradeNo, amount: fact.amount, currency: fact.currency }) };
  if (!order) return { outcome: fact.kind === 'paid' || fact.kind === 'refund' ? 'unknown_order' : 'ignored', detail: seen };
  if ((fact.kind === 'paid' || fact.kind === 'refund') && (fact.merchant !== expects.merchant || (expects.app !== undefined && fact.app !== undefined && fact.app !== expects.app))) {
    yield* recordAudit(null, 'payment_mismatch', order.userId, { order: order.id, method, expected: expects, seen: { ...seen, merchant: fact.merchant, app: fact.app } });
    return { outcome: 'mismatch', order, detail: seen };
  }
  if (fact.kind === 'paid') return yield* onPaid(method, order, fact);
  if (fact.kind === 'refund') {
    // Refunded (from the merchant's console) before the payment's notification got through: kept,
    // and taken back when the payment is credited, as Stripe's early refunds are (orders.ts).
    if (order.state === 'pending' || order.state === 'expired' || order.state === 'failed') {
      return { outcome: 'early_refund', order, detail: { ...seen, currency: fact.currency, refunded_total: fact.refundedTotal, refund_amount: fact.refundAmount } };
    }
    // Alipay reports the total refunded so far; WeChat Pay one refund, kept once by its refund id.
    const total = fact.refundedTotal ?? order.refunded + Math.max(0, fact.refundAmount ?? 0);
    return yield* refund(order, total, fact.currency, fact.eventId);
  }
  if (fact.kind === 'closed' && (yield* query('payments.moveState', { id: order.id, from: 'pending', to: 'expired' })).changes) {
    yield* recordAudit(null, 'order_expired', order.userId, { order: order.id, method, why: 'closed at the gateway' });
    return { outcome: 'expired', order };
  }
  return { outcome: fact.kind === 'closed' ? 'already' : 'waiting', order };
}

function* onPaid(method: TradeMethod, order: OrderRow, fact: Extract<TradeFact, { kind: 'paid' }>): Op<Handled> {
  if (fact.amount !== order.amount || fact.currency !== order.currency) {
    yield* recordAudit(null, 'payment_mismatch', order.userId, { order: order.id, method, expected: { amount: order.amount, currency: order.currency }, seen: { amount: fact.amount, currency: fact.currency } });
    return { outcome: 'mismatch', order, detail: { amount: fact.amount, currency: fact.currency } };
  }
  // An expired or failed order is credited too: a verified, matching payment is never kept.
  if (!(yield* query('payments.markPaid', { id: order.id, paymentIntent: fact.tradeNo || null })).changes) return { outcome: 'already', order };
  const { balance, repaid } = yield* creditPurchase(order.userId, order.id, order.tokens);
  yield* recordAudit(null, 'order_paid', order.userId, { order: order.id, method, tokens: order.tokens, amount: order.amount, currency: order.currency, repaid, balance, event: fact.eventId });
  yield* applyEarlyRefunds(method, order.id, fact.outTradeNo);
  return { outcome: 'credited', order };
}

const whole = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : 0);

/** Refunds reported before the payment was credited: Alipay's largest running total, or the sum of WeChat Pay's refunds (each kept once by its id). */
function* applyEarlyRefunds(method: TradeMethod, orderId: number, outTradeNo: string): Op<void> {
  const early = yield* query('payments.earlyTradeRefunds', { ref: outTradeNo, type: `${method}.refund` });
  if (!early.length) return;
  let total = 0;
  let sum = 0;
  let currency: string | null = null;
  for (const e of early) {
    const d = JSON.parse(e.detail) as { refunded_total?: unknown; refund_amount?: unknown; currency?: unknown };
    total = Math.max(total, whole(d.refunded_total));
    sum += whole(d.refund_amount);
    currency = typeof d.currency === 'string' ? d.currency : currency;
  }
  const paid = (yield* query('payments.order', { id: orderId }))!;
  yield* refund(paid, Math.max(total, sum), currency, early[0]!.eventId);
  yield* query('payments.earlyTradeRefundsDone', { ref: outTradeNo, type: `${method}.refund` });
}

/**
 * A refund the gateway accepted but had not finished (WeChat Pay's "processing"), kept so the sweep
 * asks about it should its notification never come: the tokens are taken back all the same.
 */
export function* notePendingRefund(method: TradeMethod, order: OrderRow, requestNo: string, amount: number): Op<void> {
  const eventId = `${method}:refund-asked:${requestNo}`;
  if ((yield* query('payments.recordEvent', { eventId, type: `${method}.refund_asked`, ref: order.sessionId })).changes === 0) return;
  yield* query('payments.eventOutcome', { eventId, outcome: 'refund_pending', orderId: order.id, detail: JSON.stringify({ request: requestNo, amount }) });
}

function* pendingRefunds(limit: number) {
  return yield* query('payments.pendingRefunds', { limit });
}

function* refundAnswered(eventId: string, orderId: number, outcome: 'refund_done' | 'refund_failed', detail: string): Op<void> {
  yield* query('payments.eventOutcome', { eventId, outcome, orderId, detail });
}

/** Asks about refunds still processing: a finished one takes its tokens back, as from its notification. */
async function sweepRefunds(database: Store, gateways: TradeGateways, failures: Error[], limit: number) {
  for (const ask of await database.read(pendingRefunds, limit)) {
    try {
      const order = await database.read(orderById, ask.orderId);
      const gateway = order && gateways[order.method as TradeMethod];
      if (!order || !gateway) continue;
      const { request, amount } = JSON.parse(ask.detail) as { request: string; amount: number };
      const status = await gateway.refundStatus(order, request, amount);
      if (status === 'processing') continue;
      if (status !== 'failed') await database.write(handleTrade, gateway.method, status, gateway.expects);
      await database.write(refundAnswered, ask.eventId, order.id, status === 'failed' ? 'refund_failed' : 'refund_done', ask.detail);
    } catch (err) {
      failures.push(new Error(`refund ${ask.eventId}: ${(err as Error).message}`));
    }
  }
}

function* orderById(id: number): Op<OrderRow | undefined> {
  return yield* query('payments.order', { id });
}

function* pendingTrades(before: string, limit: number): Op<OrderRow[]> {
  return yield* query('payments.gatewayPending', { before, limit });
}

function* markChecked(id: number, at: string): Op<void> {
  yield* query('payments.checked', { id, at });
}

function* expireClosed(order: OrderRow): Op<boolean> {
  if (!(yield* query('payments.moveState', { id: order.id, from: 'pending', to: 'expired' })).changes) return false;
  yield* recordAudit(null, 'order_expired', order.userId, { order: order.id, method: order.method, why: 'closed at the gateway' });
  return true;
}

/**
 * The minute sweep for Alipay and WeChat Pay: each pending order whose trade was opened more than
 * a minute ago is asked about (a paid one is credited as from its notification); one past its
 * expiry is closed at the gateway, then expired here; refunds still processing are asked about.
 * Failures are thrown after the others ran.
 */
export async function sweepTrades(database: Store, gateways: TradeGateways, now = new Date(), limit = 20): Promise<{ credited: number; expired: number }> {
  const result = { credited: 0, expired: 0 };
  const failures: Error[] = [];
  const due = await database.read(pendingTrades, new Date(now.getTime() - 60_000).toISOString(), limit);
  for (const order of due) {
    const gateway = gateways[order.method as TradeMethod];
    if (!gateway) continue;
    try {
      await database.write(markChecked, order.id, now.toISOString());
      const fact = await gateway.query(order);
      if (fact) {
        if ((await database.write(handleTrade, gateway.method, fact, gateway.expects)) === 'credited') result.credited++;
      } else if (order.expiresAt && Date.parse(order.expiresAt) < now.getTime() - 60_000 && (await gateway.close(order)) === 'closed') {
        if (await database.write(expireClosed, order)) result.expired++;
      }
    } catch (err) {
      failures.push(new Error(`order ${order.id} (${order.method}): ${(err as Error).message}`));
    }
  }
  await sweepRefunds(database, gateways, failures, limit);
  if (failures.length) throw new AggregateError(failures, failures.map((e) => e.message).join('; '));
  return result;
}
