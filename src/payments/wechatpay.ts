// WeChat Pay API v3: the only module that talks to it, through `wechatpay-axios-plugin` (it signs
// each request with the merchant's key and checks each answer's signature against WeChat Pay's
// public key, refusing answers more than 5 minutes off). Native payment (a weixin:// link the
// order page shows as a QR code) on a computer, H5 payment on a phone; the order query, closing,
// refunds; notifications checked here the same way, their resource decrypted with the APIv3 key
// (AES-256-GCM). What a fact does to an order is trades.ts's.
import { Aes, Formatter, Rsa, Wechatpay } from 'wechatpay-axios-plugin';
import type { WechatPaySettings } from '../payment-settings';
import { readApiV3Key, readPrivateKey, readPublicKey } from './key-files';
import { SignatureError } from './stripe';
import { beijingRfc3339, outTradeNoOf, type TradeFact, type TradeGateway } from './trade-gateway';

const WECHAT_API = 'https://api.mch.weixin.qq.com/';
/** A notification signed longer ago than this (or ahead of our clock) is refused: a replay. */
const MAX_SKEW_S = 300;

interface Request {
  request(pathname: string, method: string, data?: unknown, config?: Record<string, unknown>): PromiseLike<{ status: number; data: Record<string, unknown> }>;
}

const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' ? (v as Record<string, unknown>) : {});
const str = (v: unknown) => (typeof v === 'string' ? v : '');
const int = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : -1);
/** WeChat Pay's error answer (its code, never our keys), or null when it did not answer. */
const answerOf = (err: unknown) => obj(obj(obj(err).response).data);
const statusOf = (err: unknown) => Number(obj(obj(err).response).status) || 0;
/** A trade that was paid: REFUND is one paid, then refunded in part or whole (its refunds are facts of their own). */
const wasPaid = (t: Record<string, unknown> | undefined) => t?.trade_state === 'SUCCESS' || t?.trade_state === 'REFUND';

export function wechatPayGateway(settings: WechatPaySettings, publicUrl: string): TradeGateway {
  const platformKey = readPublicKey('WECHATPAY_PLATFORM_KEY_FILE', settings.platformKeyFile);
  const apiV3Key = readApiV3Key('WECHATPAY_APIV3_KEY_FILE', settings.apiV3KeyFile);
  const base = settings.apiUrl ?? WECHAT_API;
  const wx = new Wechatpay({
    mchid: settings.mchid, serial: settings.serial, privateKey: readPrivateKey('WECHATPAY_PRIVATE_KEY_FILE', settings.privateKeyFile),
    certs: { [settings.platformSerial]: platformKey }, baseURL: base.endsWith('/') ? base : `${base}/`, timeout: 15_000,
  });
  const client = wx.client as unknown as Request;
  const notifyUrl = `${publicUrl.replace(/\/$/, '')}/wechatpay/notify`;
  const { mchid, appid } = settings;
  const paidFact = (t: Record<string, unknown>, eventId: string): TradeFact => ({
    kind: 'paid', eventId, outTradeNo: str(t.out_trade_no), merchant: str(t.mchid), app: str(t.appid), tradeNo: str(t.transaction_id),
    amount: int(obj(t.amount).total), currency: str(obj(t.amount).currency).toLowerCase(),
  });
  const refundFact = (r: Record<string, unknown>): TradeFact => ({
    kind: 'refund', eventId: `wechat:refund:${str(r.refund_id)}`, outTradeNo: str(r.out_trade_no), merchant: str(r.mchid) || mchid,
    refundAmount: int(obj(r.amount).refund), currency: (str(obj(r.amount).currency) || 'CNY').toLowerCase(),
  });
  const query = async (outTradeNo: string) => (await client.request(`v3/pay/transactions/out-trade-no/${encodeURIComponent(outTradeNo)}`, 'GET', undefined, { params: { mchid } })).data;

  return {
    method: 'wechat',
    expects: { merchant: mchid, app: appid },
    origins: ['https://wx.tenpay.com'],
    async open(order, outTradeNo, device, clientIp) {
      const phone = device === 'phone';
      const body = {
        appid, mchid, description: order.packageName.slice(0, 127), out_trade_no: outTradeNo, notify_url: notifyUrl,
        time_expire: beijingRfc3339(order.expiresAt!), amount: { total: order.amount, currency: 'CNY' },
        ...(phone && { scene_info: { payer_client_ip: clientIp, h5_info: { type: 'Wap' } } }),
      };
      const { data } = await client.request(`v3/pay/transactions/${phone ? 'h5' : 'native'}`, 'POST', body, {});
      const url = str(phone ? data.h5_url : data.code_url);
      if (!url) throw new Error('WeChat Pay opened no trade');
      return { url, qr: !phone };
    },
    async query(order) {
      let t;
      try {
        t = await query(outTradeNoOf(order));
      } catch (err) {
        if (statusOf(err) === 404 || answerOf(err).code === 'ORDER_NOT_EXIST') return null;
        throw err;
      }
      return wasPaid(t) ? paidFact(t, `wechat:query:${outTradeNoOf(order)}`) : null;
    },
    async close(order) {
      try {
        await client.request(`v3/pay/transactions/out-trade-no/${encodeURIComponent(outTradeNoOf(order))}/close`, 'POST', { mchid }, {});
        return 'closed';
      } catch (err) {
        // Closing a paid trade is refused: ask, so a payment is never closed away.
        const t = await query(outTradeNoOf(order)).catch(() => undefined);
        if (wasPaid(t)) return 'paid';
        if (statusOf(err) === 404 || answerOf(err).code === 'ORDER_NOT_EXIST') return 'closed';
        throw err;
      }
    },
    async refund(order, amount, requestNo) {
      const { data } = await client.request('v3/refund/domestic/refunds', 'POST', {
        out_trade_no: outTradeNoOf(order), out_refund_no: requestNo, notify_url: notifyUrl,
        amount: { refund: amount, total: order.amount, currency: 'CNY' },
      }, {});
      // Usually PROCESSING: its notification (REFUND.SUCCESS) takes the tokens back.
      return data.status === 'SUCCESS' ? refundFact(data) : null;
    },
    async refundStatus(_order, requestNo) {
      const { data } = await client.request(`v3/refund/domestic/refunds/${encodeURIComponent(requestNo)}`, 'GET', undefined, {});
      if (data.status === 'SUCCESS') return refundFact(data);
      return data.status === 'PROCESSING' ? 'processing' : 'failed';
    },
    notification(headers, rawBody) {
      const { note, resource } = openNotification(headers, rawBody, settings.platformSerial, platformKey, apiV3Key);
      const type = str(note.event_type);
      if (type === 'TRANSACTION.SUCCESS' && resource.trade_state === 'SUCCESS') return paidFact(resource, `wechat:${str(note.id)}`);
      if (type === 'REFUND.SUCCESS' && resource.refund_status === 'SUCCESS') return refundFact(resource);
      return { kind: 'other', eventId: `wechat:${str(note.id)}`, outTradeNo: str(resource.out_trade_no), merchant: str(resource.mchid), status: type };
    },
  };
}

/**
 * A notification's body and decrypted resource, once its signature is WeChat Pay's (under the key
 * id configured, signed within 5 minutes) and its resource decrypts with the APIv3 key (AES-256-GCM
 * authenticates it too); SignatureError otherwise.
 */
function openNotification(headers: Record<string, string | undefined>, rawBody: Buffer, serial: string, platformKey: string, apiV3Key: Buffer) {
  const body = rawBody.toString('utf8');
  const timestamp = headers['wechatpay-timestamp'] ?? '';
  const nonce = headers['wechatpay-nonce'] ?? '';
  if (headers['wechatpay-serial'] !== serial) throw new SignatureError('the notification names another key');
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > MAX_SKEW_S) throw new SignatureError('the notification is stale');
  let verified = false;
  try {
    verified = Rsa.verify(Formatter.response(timestamp, nonce, body), headers['wechatpay-signature'] ?? '', platformKey);
  } catch {
    verified = false;
  }
  if (!verified) throw new SignatureError('the notification is not signed by WeChat Pay');
  const note = obj(JSON.parse(body));
  const r = obj(note.resource);
  try {
    return { note, resource: obj(JSON.parse(Aes.AesGcm.decrypt(str(r.ciphertext), apiV3Key, str(r.nonce), str(r.associated_data)))) };
  } catch {
    throw new SignatureError('the notification resource does not decrypt with the APIv3 key');
  }
}
