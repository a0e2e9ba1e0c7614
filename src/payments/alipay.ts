// Alipay: the only module that talks to it, through the official `alipay-sdk` package (OpenAPI with
// RSA2 keys: the application's private key signs our requests, Alipay's public key verifies its
// answers and notifications). Computer website payment (alipay.trade.page.pay) or mobile website
// payment (alipay.trade.wap.pay) by device; alipay.trade.query, .close and .refund. What a fact
// does to an order is trades.ts's.
import { AlipaySdk } from 'alipay-sdk';
import type { AlipaySettings } from '../payment-settings';
import { readPrivateKey, readPublicKey } from './key-files';
import { SignatureError } from './stripe';
import { beijingTime, fen, outTradeNoOf, yuan, type TradeFact, type TradeGateway } from './trade-gateway';

const ALIPAY_GATEWAY = 'https://openapi.alipay.com/gateway.do';

interface Answer {
  code: string;
  msg?: string;
  sub_code?: string;
  sub_msg?: string;
  [key: string]: unknown;
}

/** Alipay answered, but not with success: its codes, never our keys. */
const refused = (what: string, r: Answer) => new Error(`Alipay ${what}: ${r.code} ${r.sub_code ?? ''} ${r.sub_msg ?? r.msg ?? ''}`.trim());

export function alipayGateway(settings: AlipaySettings, publicUrl: string): TradeGateway {
  const gateway = settings.gatewayUrl ?? ALIPAY_GATEWAY;
  const sdk = new AlipaySdk({
    appId: settings.appId,
    privateKey: readPrivateKey('ALIPAY_PRIVATE_KEY_FILE', settings.privateKeyFile),
    keyType: 'PKCS8',
    alipayPublicKey: readPublicKey('ALIPAY_PUBLIC_KEY_FILE', settings.publicKeyFile),
    signType: 'RSA2',
    gateway,
    timeout: 15_000,
    camelcase: false,
  });
  const base = publicUrl.replace(/\/$/, '');
  const ask = async (method: string, bizContent: Record<string, unknown>): Promise<Answer> =>
    // validateSign: an answer is believed only when Alipay's key signed it.
    (await sdk.exec(method, { bizContent }, { validateSign: true })) as Answer;

  return {
    method: 'alipay',
    expects: { merchant: settings.appId },
    origins: [new URL(gateway).origin],
    async open(order, outTradeNo, device) {
      const phone = device === 'phone';
      const url = sdk.pageExecute(phone ? 'alipay.trade.wap.pay' : 'alipay.trade.page.pay', 'GET', {
        bizContent: {
          out_trade_no: outTradeNo, total_amount: yuan(order.amount), subject: order.packageName.slice(0, 128),
          product_code: phone ? 'QUICK_WAP_WAY' : 'FAST_INSTANT_TRADE_PAY',
          // The order's, fixed when it was made: Alipay takes no payment after it.
          time_expire: beijingTime(order.expiresAt!),
        },
        notifyUrl: `${base}/alipay/notify`,
        returnUrl: `${base}/recharge/orders/${order.id}`,
      });
      return { url, qr: false };
    },
    async query(order) {
      const outTradeNo = outTradeNoOf(order);
      const r = await ask('alipay.trade.query', { out_trade_no: outTradeNo });
      if (r.sub_code === 'ACQ.TRADE_NOT_EXIST') return null; // the user never reached Alipay's page
      if (r.code !== '10000') throw refused('trade.query', r);
      if (r.trade_status !== 'TRADE_SUCCESS' && r.trade_status !== 'TRADE_FINISHED') return null;
      // The answer carries no app_id: it is signed by Alipay for a query this app made, so it is ours.
      return {
        kind: 'paid', eventId: `alipay:query:${outTradeNo}`, outTradeNo, merchant: settings.appId, tradeNo: typeof r.trade_no === 'string' ? r.trade_no : '',
        amount: fen(r.total_amount) ?? -1, currency: 'cny',
      };
    },
    async close(order) {
      const r = await ask('alipay.trade.close', { out_trade_no: outTradeNoOf(order) });
      if (r.code === '10000' || r.sub_code === 'ACQ.TRADE_NOT_EXIST') return 'closed';
      if (r.sub_code === 'ACQ.TRADE_STATUS_ERROR') return 'paid'; // paid (or finished) meanwhile
      throw refused('trade.close', r);
    },
    async refund(order, amount, requestNo) {
      const outTradeNo = outTradeNoOf(order);
      const r = await ask('alipay.trade.refund', { out_trade_no: outTradeNo, refund_amount: yuan(amount), out_request_no: requestNo, refund_reason: 'tokenchat refund' });
      if (r.code !== '10000') throw refused('trade.refund', r);
      // refund_fee is what the trade has had refunded in all, this refund included.
      return { kind: 'refund', eventId: `alipay:refund:${requestNo}`, outTradeNo, merchant: settings.appId, currency: 'cny', refundedTotal: fen(r.refund_fee) ?? 0 };
    },
    async refundStatus(order, requestNo, amount) {
      // Alipay refunds at once; asked again under the same request number it answers that refund (fund_change N).
      return (await this.refund(order, amount, requestNo)) ?? 'processing';
    },
    notification(_headers, rawBody) {
      const params = Object.fromEntries(new URLSearchParams(rawBody.toString('utf8')));
      // RSA (SHA-1) is refused: only RSA2 is accepted for this app.
      if (params.sign_type !== 'RSA2' || !sdk.checkNotifySignV2(params)) throw new SignatureError('the notification is not signed by Alipay');
      return factOf(params);
    },
  };
}

/** What a verified notification says (its notify_id keeps it once). */
function factOf(p: Record<string, string>): TradeFact {
  const base = { eventId: `alipay:${p.notify_id ?? ''}`, outTradeNo: p.out_trade_no ?? '', merchant: p.app_id ?? '' };
  if (!p.notify_id || !p.out_trade_no) return { ...base, kind: 'other', status: 'incomplete' };
  // A refund is notified with the trade's status and the total refunded so far.
  if (p.refund_fee !== undefined) return { ...base, kind: 'refund', currency: 'cny', refundedTotal: fen(p.refund_fee) ?? 0 };
  if (p.trade_status === 'TRADE_SUCCESS' || p.trade_status === 'TRADE_FINISHED') {
    return { ...base, kind: 'paid', tradeNo: p.trade_no ?? '', amount: fen(p.total_amount) ?? -1, currency: 'cny' };
  }
  if (p.trade_status === 'TRADE_CLOSED') return { ...base, kind: 'closed' };
  return { ...base, kind: 'other', status: p.trade_status ?? '' };
}
