// /admin/orders/<id>: one order for the admin (its gateway, trade numbers, refunds) and, for an
// Alipay or WeChat Pay order, Refund (Stripe's are refunded from its Dashboard, reported by its
// webhook). The refund is asked of the gateway under a request number the form carries, so a
// double click is one refund; the tokens are taken back only from the gateway's verified answer
// or its refund notification (payments/trades.ts), never because the admin asked.
import crypto from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import type { Payments, Services } from '../context';
import { recordAudit } from '../../admin/actions';
import { query, type Op } from '../../storage/op';
import { HttpError } from '../http-error';
import { bodyOf } from '../input';
import { renderPage } from '../views';
import { adminOnly, idParam } from './guards';
import { orderView } from './payments';
import { formatPrice } from '../../payments/packages';
import { handleTrade, notePendingRefund } from '../../payments/trades';
import { fen, type TradeMethod } from '../../payments/trade-gateway';
import type { OrderRow } from '../../payments/orders';

function* orderById(id: number): Op<OrderRow | undefined> {
  return yield* query('payments.order', { id });
}

function* askedRefund(adminId: number, order: OrderRow, amount: number, requestNo: string): Op<void> {
  yield* recordAudit(adminId, 'order_refund_asked', order.userId, { order: order.id, method: order.method, amount, currency: order.currency, request: requestNo });
}

const refundable = (order: OrderRow) => order.state === 'paid' || order.state === 'partly_refunded';

export function adminRefunds({ database, logger }: Services, payments: Payments | undefined): Router {
  const router = Router();

  async function page(req: Request, res: Response, order: OrderRow, extra: Record<string, unknown> = {}, status = 200) {
    const { t, locale } = res.locals;
    const gateway = payments?.trades?.[order.method as TradeMethod];
    const left = order.amount - order.refunded;
    renderPage(req, res, 'admin-order', {
      title: t('orders.order', { id: order.id }), order: orderView(order, locale), canRefund: gateway !== undefined && refundable(order) && left > 0,
      left: (left / 100).toFixed(2), leftText: formatPrice(left, order.currency, locale), requestId: crypto.randomUUID(),
      done: req.query.done === 'refunded' || req.query.done === 'processing' ? req.query.done : null, ...extra,
    }, status);
  }

  router.get('/admin/orders/:id', adminOnly, async (req, res) => {
    const order = await database.read(orderById, idParam(req));
    if (!order) throw new HttpError(404);
    await page(req, res, order);
  });

  router.post('/admin/orders/:id/refund', adminOnly, async (req, res) => {
    const order = await database.read(orderById, idParam(req));
    if (!order) throw new HttpError(404);
    const gateway = payments?.trades?.[order.method as TradeMethod];
    const { t } = res.locals;
    if (!gateway) return page(req, res, order, { error: t('admin.refund_stripe') }, 422);
    if (!refundable(order)) return page(req, res, order, { error: t('admin.refund_not_paid') }, 422);
    const { amount: asked, request_id: requestId } = bodyOf(req);
    const amount = fen(typeof asked === 'string' ? asked.trim() : '');
    const max = formatPrice(order.amount - order.refunded, order.currency, res.locals.locale);
    if (amount === null || amount < 1 || amount > order.amount - order.refunded) {
      return page(req, res, order, { error: t('admin.refund_bad_amount', { max }), amountInput: typeof asked === 'string' ? asked.slice(0, 20) : '' }, 422);
    }
    if (typeof requestId !== 'string' || !/^[\w-]{8,48}$/.test(requestId)) throw new HttpError(400);
    const requestNo = `r${order.id}-${requestId}`;
    await database.write(askedRefund, req.user!.id, order, amount, requestNo);
    let fact;
    try {
      fact = await gateway.refund(order, amount, requestNo);
    } catch (err) {
      logger.error({ err: (err as Error).message, order: order.id, method: order.method }, 'a refund was refused or failed');
      // The same request number again: if the gateway did refund before the answer was lost, a retry is that refund, not another.
      return page(req, res, order, { error: t('admin.refund_failed', { method: t(`orders.method.${order.method}`) }), requestId, amountInput: asked }, 502);
    }
    if (fact) await database.write(handleTrade, gateway.method, fact, gateway.expects);
    else await database.write(notePendingRefund, gateway.method, order, requestNo, amount);
    res.redirect(303, `/admin/orders/${order.id}?done=${fact ? 'refunded' : 'processing'}`);
  });

  return router;
}
