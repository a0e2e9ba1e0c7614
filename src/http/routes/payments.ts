// Paying for tokens (Stripe Checkout, Alipay, WeChat Pay): the packages on the Recharge page, Pay
// (an order, then the gateway's page or QR code: routes/trades.ts for the last two), the order's own
// page on return (it waits for the notification and updates itself), the user's Orders page, the
// admin Orders page, and Stripe's webhook. The balance grows only from a verified notification or
// query (payments/orders.ts, payments/trades.ts); the return from the gateway changes nothing.
import crypto from 'node:crypto';
import express, { Router, type Request, type Response } from 'express';
import type { Payments, Services } from '../context';
import { HttpError } from '../http-error';
import { bodyOf, page as pageParam } from '../input';
import { renderPage } from '../views';
import { adminOnly, idParam, signedIn } from './guards';
import { balanceOf, owedBy } from '../../ledger/ledger';
import {
  attachSession, createOrder, failOrder, handleEvent, ordersOfUser, ordersOverview, ordersPage, ownOrder, type OrderRow,
} from '../../payments/orders';
import { formatPrice, nameIn } from '../../payments/packages';
import { checkoutClosesAt, isIdempotencyError, SignatureError } from '../../payments/stripe';
import type { PayMethod } from '../../payments/orders';
import { openTrade, qrCodeOf } from './trades';

/** What the pages show of an order: its price and state in the page's language. */
export function orderView(order: OrderRow, locale: string) {
  return { ...order, price: formatPrice(order.amount, order.currency, locale), refundedText: order.refunded ? formatPrice(order.refunded, order.currency, locale) : null };
}

/**
 * The gateways that can take a price in this currency, in the order the page offers them: Alipay
 * and WeChat Pay (yuan only) first for a reader of Chinese, Stripe first for others.
 */
export function methodsFor(payments: Payments, currency: string, locale: string): PayMethod[] {
  const order: PayMethod[] = locale === 'zh-CN' ? ['alipay', 'wechat', 'stripe'] : ['stripe', 'alipay', 'wechat'];
  return order.filter((m) => (m === 'stripe' ? payments.gateway !== undefined : payments.trades?.[m] !== undefined && currency === 'cny'));
}

/** The packages as the Recharge page offers them (those some gateway can take), with a form id that makes a double click one order. */
export function packagesView(payments: Payments | undefined, locale: string) {
  if (!payments) return undefined;
  return payments.catalogue.packages
    .filter((p) => p.active)
    .map((p) => ({ id: p.id, name: nameIn(p.name, locale), tokens: p.tokens, price: formatPrice(p.amount, p.currency, locale), formId: crypto.randomUUID(), methods: methodsFor(payments, p.currency, locale) }))
    .filter((p) => p.methods.length > 0);
}

/**
 * POST /stripe/webhook: before sessions, CSRF and the JSON parser (mounted first), on the raw
 * bytes the signature covers. A bad, missing or stale signature is 400 and changes nothing; an
 * event type not handled is 200 at once; a failure is 500, so Stripe delivers it again.
 */
export function stripeWebhook({ database, logger }: Services, payments: Payments | undefined): Router {
  const router = Router();
  router.post('/stripe/webhook', express.raw({ type: () => true, limit: '1mb' }), async (req, res) => {
    if (!payments?.gateway) throw new HttpError(404);
    let event;
    try {
      event = payments.gateway.verify(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0), req.get('stripe-signature'));
    } catch (err) {
      if (!(err instanceof SignatureError)) throw err;
      logger.warn({ err: err.message }, 'a Stripe webhook with a bad signature was refused');
      return res.status(400).json({ error: { status: 400, message: 'Invalid signature.' } });
    }
    const outcome = await database.write(handleEvent, event);
    logger.info({ event: event.id, type: event.type, outcome }, 'Stripe event');
    res.json({ received: true, outcome });
  });
  return router;
}

export function paymentRoutes(services: Services, payments: Payments | undefined): Router {
  const router = Router();
  const { database, logger } = services;

  async function orderPage(req: Request, res: Response, order: OrderRow) {
    const balance = await database.read(balanceOf, req.user!.id);
    const checkoutOpen = order.state === 'pending' && order.checkoutUrl !== null && order.expiresAt !== null && order.expiresAt > new Date().toISOString();
    // WeChat Pay's Native link is scanned from the page: a QR code drawn here, never a link to follow.
    const qr = checkoutOpen && order.method === 'wechat' && order.checkoutUrl!.startsWith('weixin://') ? await qrCodeOf(order.checkoutUrl!) : null;
    renderPage(req, res, 'order', {
      title: res.locals.t('orders.order', { id: order.id }), order: orderView(order, res.locals.locale), balance,
      cancelled: req.query.cancelled === '1', checkoutOpen: checkoutOpen && !qr, qr,
    });
  }

  router.post('/recharge/pay', signedIn, async (req, res) => {
    if (!payments) throw new HttpError(404);
    const { package: asked, form_id: given, method: chosen } = bodyOf(req);
    const pkg = payments.catalogue.buyable(typeof asked === 'string' ? asked : '');
    if (!pkg) throw new HttpError(422, 'orders.no_package');
    const methods = methodsFor(payments, pkg.currency, 'en');
    // No method named (an older page): Stripe's, as before, or the only one there is.
    const method = chosen === undefined || chosen === '' ? methods[0] : methods.find((m) => m === chosen);
    if (!method) throw new HttpError(422, 'orders.no_method');
    const sent = typeof given === 'string' && /^[\w-]{1,56}$/.test(given) ? given : crypto.randomUUID();
    // The same form sent with another method is another order (the user went back and chose again).
    const formId = method === 'stripe' ? sent : `${method}:${sent}`;
    const user = req.user!;
    const order = await database.write(createOrder, user.id, pkg, nameIn(pkg.name, res.locals.locale), formId, checkoutClosesAt(payments), method);
    const open = order.state === 'pending' && order.expiresAt! > new Date().toISOString();
    if (!open) return res.redirect(303, `/recharge/orders/${order.id}`); // a form sent again after it was paid, or too late
    if (method !== 'stripe') return openTrade(services, payments.trades![method]!, order, req, res);
    if (order.checkoutUrl) return res.redirect(303, order.checkoutUrl);
    let session;
    try {
      session = await payments.gateway!.checkout(order, res.locals.locale);
    } catch (err) {
      // Stripe's own message, never its key (the SDK does not put the key in messages).
      logger.error({ err: (err as Error).message, order: order.id }, 'Stripe Checkout could not be opened');
      // The same order asked for twice at once is not a failed order: the first request goes on.
      if (isIdempotencyError(err)) return res.redirect(303, `/recharge/orders/${order.id}`);
      await database.write(failOrder, order, (err as Error).message.slice(0, 200));
      throw new HttpError(502, 'orders.unavailable');
    }
    // Only to Stripe's own page (the form-action policy allows no other), and only the order's own session.
    if (!/^https:\/\/checkout\.stripe\.com\//.test(session.url)) throw new Error(`Stripe answered a checkout url that is not Stripe's: ${session.url.slice(0, 80)}`);
    if (!(await database.write(attachSession, order.id, session))) return res.redirect(303, `/recharge/orders/${order.id}`);
    res.redirect(303, session.url);
  });

  // Continue to an Alipay or WeChat Pay page for a pending order: a fresh link to the same trade.
  router.post('/recharge/orders/:id/pay', signedIn, async (req, res) => {
    const order = await database.read(ownOrder, req.user!.id, idParam(req));
    if (!order) throw new HttpError(404);
    const gateway = order.method === 'stripe' ? undefined : payments?.trades?.[order.method];
    if (!gateway || order.state !== 'pending' || order.expiresAt! <= new Date().toISOString()) return res.redirect(303, `/recharge/orders/${order.id}`);
    await openTrade(services, gateway, order, req, res);
  });

  // Back from Checkout (or cancelled): the order as the webhook left it; it polls while pending.
  router.get('/recharge/orders/:id', signedIn, async (req, res) => {
    const order = await database.read(ownOrder, req.user!.id, idParam(req));
    if (!order) throw new HttpError(404);
    await orderPage(req, res, order);
  });

  router.get('/orders', signedIn, async (req, res) => {
    const pageNo = pageParam.parse(req.query.page);
    const userId = req.user!.id;
    const { rows, hasMore } = await database.read(ordersOfUser, userId, pageNo);
    renderPage(req, res, 'orders', {
      title: res.locals.t('orders.title'), orders: rows.map((o) => orderView(o, res.locals.locale)), pageNo, hasMore,
      owed: await database.read(owedBy, userId), paying: payments !== undefined,
    });
  });

  router.get('/admin/orders', adminOnly, async (req, res) => {
    const pageNo = pageParam.parse(req.query.page);
    const q = typeof req.query.q === 'string' && req.query.q.trim() ? req.query.q.trim().slice(0, 200) : null;
    const { rows, hasMore } = await database.read(ordersPage, q, pageNo);
    const since = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10);
    const overview = await database.read(ordersOverview, since);
    renderPage(req, res, 'admin-orders', {
      title: res.locals.t('admin.orders'), orders: rows.map((o) => ({ ...orderView(o, res.locals.locale), username: o.username })), pageNo, hasMore, q,
      days: overview.days.map((d) => ({ ...d, amountText: formatPrice(d.amount, d.currency, res.locals.locale), refundedText: formatPrice(d.refunded, d.currency, res.locals.locale) })),
      issues: overview.issues, owing: overview.owing, paying: payments !== undefined,
    });
  });

  return router;
}
