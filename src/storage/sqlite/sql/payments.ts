// SQLite texts of the payments queries.
import { all, get, run, value, type Text } from '../../op';
import type { PaymentQueries } from '../../queries/payments';
import { NOW } from './ledger';

const ORDER = `o.id, o.user_id AS userId, o.package_id AS packageId, o.package_name AS packageName, o.tokens, o.amount, o.currency,
  o.state, o.method, o.session_id AS sessionId, o.checkout_url AS checkoutUrl, o.expires_at AS expiresAt, o.paid_at AS paidAt,
  o.payment_intent AS paymentIntent, o.receipt_url AS receiptUrl, o.refunded, o.tokens_back AS tokensBack, o.created_at AS createdAt`;
const EVENT = `event_id AS eventId, type, order_id AS orderId, ref, outcome, detail, received_at AS receivedAt`;

export const paymentsSql: { readonly [K in keyof PaymentQueries]: Text } = {
  'payments.newOrder': value(`INSERT INTO orders (user_id, package_id, package_name, tokens, amount, currency, form_id, expires_at, method)
    VALUES (@userId, @packageId, @packageName, @tokens, @amount, @currency, @formId, @expiresAt, @method) ON CONFLICT (user_id, form_id) DO NOTHING RETURNING id`),
  'payments.orderByForm': get(`SELECT ${ORDER} FROM orders o WHERE o.user_id = @userId AND o.form_id = @formId`),
  'payments.order': get(`SELECT ${ORDER} FROM orders o WHERE o.id = @id`),
  'payments.orderBySession': get(`SELECT ${ORDER} FROM orders o WHERE o.session_id = @sessionId`),
  'payments.orderByIntent': get(`SELECT ${ORDER} FROM orders o WHERE o.payment_intent = @paymentIntent`),
  'payments.attachSession': run(`UPDATE orders SET session_id = @sessionId, checkout_url = @checkoutUrl, updated_at = ${NOW}
    WHERE id = @id AND state = 'pending' AND (session_id IS NULL OR session_id = @sessionId)`),
  'payments.lockIntent': value('SELECT 1'),
  'payments.markPaid': run(`UPDATE orders SET state = 'paid', paid_at = ${NOW}, payment_intent = coalesce(@paymentIntent, payment_intent), updated_at = ${NOW}
    WHERE id = @id AND state IN ('pending', 'expired', 'failed')`),
  'payments.moveState': run(`UPDATE orders SET state = @to, updated_at = ${NOW} WHERE id = @id AND state = @from`),
  'payments.markRefunded': run(`UPDATE orders SET refunded = @refunded, tokens_back = @tokensBack, state = @state, updated_at = ${NOW}
    WHERE id = @id AND refunded < @refunded`),
  'payments.setReceipt': run(`UPDATE orders SET receipt_url = @receiptUrl WHERE id = @id`),
  'payments.stalePending': all(`SELECT ${ORDER} FROM orders o WHERE o.state = 'pending' AND (o.method = 'stripe' OR o.session_id IS NULL) AND o.expires_at < @before
    ORDER BY o.expires_at LIMIT @limit`),
  'payments.gatewayPending': all(`SELECT ${ORDER} FROM orders o WHERE o.state = 'pending' AND o.method <> 'stripe'
    AND o.session_id IS NOT NULL AND o.created_at < @before ORDER BY coalesce(o.checked_at, '') LIMIT @limit`),
  'payments.pendingRefunds': all(`SELECT event_id AS eventId, order_id AS orderId, detail FROM payment_events
    WHERE outcome = 'refund_pending' ORDER BY received_at LIMIT @limit`),
  'payments.checked': run(`UPDATE orders SET checked_at = @at WHERE id = @id`),
  'payments.recordEvent': run(`INSERT INTO payment_events (event_id, type, ref, outcome) VALUES (@eventId, @type, @ref, 'received')
    ON CONFLICT (event_id) DO NOTHING`),
  'payments.eventOutcome': run(`UPDATE payment_events SET outcome = @outcome, order_id = @orderId, detail = @detail WHERE event_id = @eventId`),
  'payments.receiptFor': value(`SELECT json_extract(detail, '$.receipt_url') FROM payment_events
    WHERE ref = @paymentIntent AND type = 'charge.succeeded' ORDER BY received_at DESC LIMIT 1`),
  'payments.earlyRefund': get(`SELECT event_id AS eventId, detail FROM payment_events
    WHERE ref = @paymentIntent AND type = 'charge.refunded' AND outcome = 'unknown_order' ORDER BY json_extract(detail, '$.amount_refunded') DESC LIMIT 1`),
  'payments.earlyRefundsDone': run(`UPDATE payment_events SET outcome = 'refunded', order_id = @orderId
    WHERE ref = @paymentIntent AND type = 'charge.refunded' AND outcome = 'unknown_order'`),
  'payments.earlyTradeRefunds': all(`SELECT event_id AS eventId, detail FROM payment_events WHERE ref = @ref AND type = @type AND outcome = 'early_refund'`),
  'payments.earlyTradeRefundsDone': run(`UPDATE payment_events SET outcome = 'refunded' WHERE ref = @ref AND type = @type AND outcome = 'early_refund'`),
  'payments.ordersOfUser': all(`SELECT ${ORDER} FROM orders o WHERE o.user_id = @userId ORDER BY o.id DESC LIMIT @limit OFFSET @offset`),
  'payments.ordersPage': all(`SELECT ${ORDER}, u.username FROM orders o JOIN users u ON u.id = o.user_id
    WHERE @q IS NULL OR u.username = @q OR CAST(o.id AS TEXT) = @q OR o.session_id = @q OR o.payment_intent = @q
    ORDER BY o.id DESC LIMIT @limit OFFSET @offset`),
  'payments.days': all(`SELECT substr(paid_at, 1, 10) AS day, currency, count(*) AS orders, sum(amount) AS amount, sum(refunded) AS refunded,
      sum(tokens) AS tokens
    FROM orders WHERE paid_at IS NOT NULL AND paid_at >= @since GROUP BY 1, 2 ORDER BY 1 DESC, 2`),
  'payments.issues': all(`SELECT ${EVENT} FROM payment_events WHERE outcome IN ('unknown_order', 'mismatch') ORDER BY received_at DESC LIMIT @limit`),
  'payments.owing': all(`SELECT b.user_id AS userId, u.username, b.owed FROM balances b JOIN users u ON u.id = b.user_id
    WHERE b.owed > 0 ORDER BY b.owed DESC LIMIT @limit`),
};
