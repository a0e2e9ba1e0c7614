// Paying by Alipay or WeChat Pay: opening the order's trade when Pay is pressed (to Alipay's page,
// WeChat Pay's H5 page, or back to the order's page with a QR code), and the two notification
// endpoints. These are mounted before sessions, CSRF and the body parsers: the gateway's signature
// over the raw body is their authentication. A bad signature changes nothing and is answered as
// the gateway's API asks; success is answered only after the change is committed, so a failure
// makes the gateway notify again.
import express, { Router, type Request, type Response } from 'express';
import type { Payments, Services } from '../context';
import { HttpError } from '../http-error';
import { attachSession, failOrder, type OrderRow } from '../../payments/orders';
import { SignatureError } from '../../payments/stripe';
import { handleTrade } from '../../payments/trades';
import { deviceOf, outTradeNoOf, type TradeGateway, type TradeMethod } from '../../payments/trade-gateway';

/**
 * Sends the user on to pay the order: the gateway's page, or the order's page with its QR code. A
 * QR code's link lasts two hours and is shown again; a page link is made anew each time (Alipay's
 * carries a signing time, WeChat Pay's H5 link lasts 5 minutes), for the same trade number.
 */
export async function openTrade({ database, logger }: Services, gateway: TradeGateway, order: OrderRow, req: Request, res: Response) {
  const orderPage = `/recharge/orders/${order.id}`;
  if (order.checkoutUrl?.startsWith('weixin://')) return res.redirect(303, orderPage);
  let opened;
  try {
    opened = await gateway.open(order, outTradeNoOf(order), deviceOf(req.get('user-agent')), req.ip ?? '127.0.0.1');
  } catch (err) {
    logger.error({ err: (err as Error).message, order: order.id, method: gateway.method }, 'a payment could not be opened');
    // Only an order never opened fails: one opened before may still be paid on the link it had.
    if (!order.sessionId) await database.write(failOrder, order, (err as Error).message.slice(0, 200));
    throw new HttpError(502, 'orders.unavailable');
  }
  // Only to the gateway's own pages (the form-action policy allows no other).
  if (!opened.qr && !gateway.origins.some((o) => opened.url.startsWith(`${o}/`))) {
    throw new Error(`${gateway.method} answered a payment url that is not its own: ${opened.url.slice(0, 80)}`);
  }
  // A second request for the same order at the same moment lost the race: its trade is never shown.
  if (!(await database.write(attachSession, order.id, { id: outTradeNoOf(order), url: opened.url }))) return res.redirect(303, orderPage);
  res.redirect(303, opened.qr ? orderPage : opened.url);
}

/** The QR code of a WeChat Pay Native link, as an SVG image in a data: URL (drawn here, no script). */
export async function qrCodeOf(link: string): Promise<string> {
  // Loaded on the first QR code drawn: a server without WeChat Pay never needs it.
  const QRCode = await import('qrcode');
  const svg = await QRCode.toString(link, { type: 'svg', errorCorrectionLevel: 'M', margin: 2, color: { dark: '#000000', light: '#ffffff' } });
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
}

interface Answers {
  ok(res: Response): void;
  fail(res: Response, status: number, message: string): void;
}

const ANSWERS: Record<TradeMethod, Answers> = {
  // Alipay stops notifying on the body "success"; anything else is tried again for about a day.
  alipay: { ok: (res) => res.type('text/plain').send('success'), fail: (res, status) => res.status(status).type('text/plain').send('fail') },
  // WeChat Pay v3: 200 or 204 with no body is received; else {code: FAIL, message}, and it notifies again.
  wechat: { ok: (res) => res.status(204).end(), fail: (res, status, message) => res.status(status).json({ code: 'FAIL', message }) },
};

export function tradeNotifications({ database, logger }: Services, payments: Payments | undefined): Router {
  const router = Router();
  const endpoint = (path: string, method: TradeMethod) =>
    router.post(path, express.raw({ type: () => true, limit: '64kb' }), async (req, res) => {
      const gateway = payments?.trades?.[method];
      if (!gateway) throw new HttpError(404);
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
      let fact;
      try {
        fact = gateway.notification(headers, Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
      } catch (err) {
        if (!(err instanceof SignatureError) && !(err instanceof SyntaxError)) throw err;
        logger.warn({ err: err.message, method }, 'a payment notification with a bad signature was refused');
        return ANSWERS[method].fail(res, 400, 'invalid signature');
      }
      try {
        const outcome = await database.write(handleTrade, method, fact, gateway.expects);
        logger.info({ event: fact.eventId, kind: fact.kind, outcome, method }, 'payment notification');
        ANSWERS[method].ok(res);
      } catch (err) {
        logger.error({ err, method, event: fact.eventId }, 'a payment notification could not be handled; the gateway will send it again');
        ANSWERS[method].fail(res, 500, 'try again');
      }
    });
  endpoint('/alipay/notify', 'alipay');
  endpoint('/wechatpay/notify', 'wechat');
  return router;
}
