// What Alipay and WeChat Pay have in common for tokenchat: a trade opened for an order (a page to
// send the user to, or a link to show as a QR code), facts about it learnt only from a verified
// notification or a verified answer to our own query, closing it, and refunding it. Each gateway's
// module (alipay.ts, wechatpay.ts) turns its wire format into these; trades.ts decides what a fact
// does to an order and the ledger, once for both.
import type { OrderRow } from '../storage/queries/payments';

export type TradeMethod = 'alipay' | 'wechat';
export type Device = 'computer' | 'phone';

/** A trade the gateway opened: where the user pays, and whether that is a QR code to show (WeChat Native). */
export interface OpenedTrade {
  url: string;
  qr: boolean;
}

/** Who a verified fact says it is for: Alipay's app_id; WeChat Pay's mchid and appid. */
export interface Merchant {
  merchant: string;
  app?: string;
}

interface FactBase extends Merchant {
  /** Kept once: a second fact with this id does nothing (a repeated notification, a query asked again). */
  eventId: string;
  /** tokenchat's trade number for the order (out_trade_no). */
  outTradeNo: string;
}

/** What a verified notification or query says. Amounts in fen. */
export type TradeFact =
  | (FactBase & { kind: 'paid'; tradeNo: string; amount: number; currency: string })
  /** Refunded so far in all (Alipay's refund_fee), or this one refund (WeChat Pay's, kept by its refund id). */
  | (FactBase & { kind: 'refund'; currency: string; refundedTotal?: number; refundAmount?: number })
  | (FactBase & { kind: 'closed' })
  | (FactBase & { kind: 'other'; status: string });

export interface TradeGateway {
  method: TradeMethod;
  /** What every fact must name; anything else is listed for the admin and credits nothing. */
  expects: Merchant;
  /** Where a Pay form may be redirected (the content security policy's form-action). */
  origins: readonly string[];
  /** Opens the trade for the order (Alipay builds a signed page link; WeChat Pay is asked over the API). */
  open(order: OrderRow, outTradeNo: string, device: Device, clientIp: string): Promise<OpenedTrade>;
  /** The trade as the gateway reports it now: a paid fact, or null while unpaid (or never opened). */
  query(order: OrderRow): Promise<TradeFact | null>;
  /** Closes an unpaid trade for good; 'paid' when it was paid meanwhile (the next query credits it). */
  close(order: OrderRow): Promise<'closed' | 'paid'>;
  /** Refunds `amount` fen under the request number (the same number again is the same refund); a fact when it is done now. */
  refund(order: OrderRow, amount: number, requestNo: string): Promise<TradeFact | null>;
  /** A refund refund() left processing: its fact once done, or whether it is still under way or failed. */
  refundStatus(order: OrderRow, requestNo: string, amount: number): Promise<TradeFact | 'processing' | 'failed'>;
  /** The facts of a notification, when its signature is the gateway's; throws SignatureError otherwise. */
  notification(headers: Record<string, string | undefined>, rawBody: Buffer): TradeFact;
}

export type TradeGateways = Partial<Record<TradeMethod, TradeGateway>>;

/**
 * The out_trade_no of an order: its id and when it was made, so a database started afresh never
 * reuses one the merchant account already knows. 6-32 characters, as WeChat Pay takes.
 */
export const outTradeNoOf = (order: Pick<OrderRow, 'id' | 'createdAt'>) => `tc${order.id}_${order.createdAt.replace(/\D/g, '').slice(0, 17)}`;

/** "10.00" from 1000 fen (Alipay counts in yuan, two decimals). */
export const yuan = (fen: number) => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;

/** 1000 from "10.00" or "10"; null for anything that is not such an amount. */
export function fen(text: unknown): number | null {
  if (typeof text !== 'string' || !/^\d{1,10}(\.\d{1,2})?$/.test(text)) return null;
  const [whole, cents = ''] = text.split('.');
  return Number(whole) * 100 + Number(cents.padEnd(2, '0'));
}

/** A time as Beijing's wall clock, "2026-12-06 19:30:00" (Alipay's time_expire). */
export const beijingTime = (iso: string) => new Date(Date.parse(iso) + 8 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');

/** A time in RFC 3339 at +08:00, "2026-12-06T19:30:00+08:00" (WeChat Pay's time_expire). */
export const beijingRfc3339 = (iso: string) => `${beijingTime(iso).replace(' ', 'T')}+08:00`;

/**
 * A phone's browser is sent to the mobile payment page; everything else gets the computer's. Inside
 * WeChat's own browser, WeChat Pay refuses H5 payment (it wants JSAPI): there the QR code is shown,
 * which WeChat can recognise on a long press.
 */
export const deviceOf = (userAgent: string | undefined): Device =>
  /Mobile|Android|iPhone|iPad|HarmonyOS/i.test(userAgent ?? '') && !/MicroMessenger/i.test(userAgent ?? '') ? 'phone' : 'computer';
