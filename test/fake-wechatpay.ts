// A local WeChat Pay API v3 for tests: node:http on 127.0.0.1, with the merchant's and the
// platform's RSA keys and the APIv3 key made here. It checks each request's WECHATPAY2-SHA256-
// RSA2048 Authorization with the merchant's public key, signs each answer with the platform key
// (Wechatpay-* headers), and answers Native and H5 orders, the order query, closing and refunds.
// Notifications are built as WeChat Pay sends them: the resource AES-256-GCM encrypted with the
// APIv3 key, the whole body signed with the platform key, for a test to post.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';

export interface FakeWxTrade {
  outTradeNo: string;
  transactionId: string;
  total: number;
  kind: 'native' | 'h5';
  /** REFUND: paid, then refunded in part or in whole. */
  state: 'NOTPAY' | 'SUCCESS' | 'CLOSED' | 'REFUND';
  appid: string;
  refunds: Map<string, { refundId: string; amount: number; status: 'PROCESSING' | 'SUCCESS' }>;
}

export interface SignedNote {
  headers: Record<string, string>;
  body: string;
}

export interface FakeWechatPay {
  url: string;
  mchid: string;
  appid: string;
  env: Record<string, string>;
  trades: Map<string, FakeWxTrade>;
  calls: string[];
  pay(outTradeNo: string): FakeWxTrade;
  /** A TRANSACTION.SUCCESS notification for the trade; `resource` overrides fields of the decrypted resource. */
  paidNote(outTradeNo: string, resource?: Record<string, unknown>, opts?: NoteOptions): SignedNote;
  /** WeChat Pay finishes a refund (its query says SUCCESS from now on). */
  finishRefund(outRefundNo: string): void;
  /** A REFUND.SUCCESS notification for a refund the fake made. */
  refundNote(outRefundNo: string, opts?: NoteOptions): SignedNote;
  close(): Promise<void>;
}

export interface NoteOptions {
  /** Sign with another key (a forgery), or encrypt with another APIv3 key. */
  signKey?: crypto.KeyObject;
  apiV3Key?: string;
  timestamp?: number;
  serial?: string;
  id?: string;
}

const MCHID = '1900000109';
const APPID = 'wxd678efh567hg6787';
const PLATFORM_SERIAL = 'PUB_KEY_ID_0114232134912410000000000000';

export async function startFakeWechatPay(dir: string): Promise<FakeWechatPay> {
  const merchant = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const platform = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const apiV3Key = crypto.randomBytes(16).toString('hex'); // 32 characters
  const files = { key: path.join(dir, 'wx-apiclient_key.pem'), platform: path.join(dir, 'wx-pub_key.pem'), v3: path.join(dir, 'wx-apiv3.key') };
  fs.writeFileSync(files.key, merchant.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  fs.writeFileSync(files.platform, platform.publicKey.export({ type: 'spki', format: 'pem' }));
  fs.writeFileSync(files.v3, apiV3Key);
  const trades = new Map<string, FakeWxTrade>();
  const calls: string[] = [];
  let seq = 0;
  const sign = (text: string, key = platform.privateKey) => crypto.createSign('RSA-SHA256').update(text, 'utf8').sign(key, 'base64');

  function send(res: http.ServerResponse, status: number, body?: unknown) {
    const text = body === undefined ? '' : JSON.stringify(body);
    const ts = String(Math.floor(Date.now() / 1000));
    const nonce = crypto.randomBytes(16).toString('hex');
    res.writeHead(status, {
      ...(text && { 'content-type': 'application/json' }), 'wechatpay-timestamp': ts, 'wechatpay-nonce': nonce, 'wechatpay-serial': PLATFORM_SERIAL,
      'wechatpay-signature': sign(`${ts}\n${nonce}\n${text}\n`), 'request-id': `req-${++seq}`,
    }).end(text);
  }

  function authorized(req: http.IncomingMessage, body: string): boolean {
    const auth = req.headers.authorization ?? '';
    const fields = Object.fromEntries([...auth.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!auth.startsWith('WECHATPAY2-SHA256-RSA2048 ') || fields.mchid !== MCHID) return false;
    const message = `${req.method}\n${req.url}\n${fields.timestamp}\n${fields.nonce_str}\n${body}\n`;
    return crypto.createVerify('RSA-SHA256').update(message, 'utf8').verify(merchant.publicKey, fields.signature ?? '', 'base64');
  }

  function route(req: http.IncomingMessage, body: Record<string, unknown>, res: http.ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const open = /^\/v3\/pay\/transactions\/(native|h5)$/.exec(url.pathname);
    const byNo = /^\/v3\/pay\/transactions\/out-trade-no\/([^/]+)(\/close)?$/.exec(url.pathname);
    calls.push(`${req.method} ${url.pathname}`);
    if (open && req.method === 'POST') {
      const no = String(body.out_trade_no);
      const amount = body.amount as { total: number };
      if (body.mchid !== MCHID || body.appid !== APPID) return send(res, 400, { code: 'PARAM_ERROR', message: 'mchid/appid' });
      if (!trades.has(no)) trades.set(no, { outTradeNo: no, transactionId: `4200${String(++seq).padStart(24, '0')}`, total: amount.total, kind: open[1] as 'native' | 'h5', state: 'NOTPAY', appid: APPID, refunds: new Map() });
      return open[1] === 'native'
        ? send(res, 200, { code_url: `weixin://wxpay/bizpayurl?pr=${no}` })
        : send(res, 200, { h5_url: `https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx${no}&package=1` });
    }
    if (byNo) {
      const trade = trades.get(decodeURIComponent(byNo[1]!));
      if (!trade) return send(res, 404, { code: 'ORDER_NOT_EXIST', message: 'order not exist' });
      if (byNo[2]) {
        if (trade.state === 'SUCCESS' || trade.state === 'REFUND') return send(res, 400, { code: 'ORDERPAID', message: 'paid' });
        trade.state = 'CLOSED';
        return send(res, 204);
      }
      return send(res, 200, resourceOf(trade));
    }
    if (url.pathname === '/v3/refund/domestic/refunds' && req.method === 'POST') {
      const trade = trades.get(String(body.out_trade_no));
      const amount = body.amount as { refund: number; total: number };
      if (!trade || trade.state !== 'SUCCESS') return send(res, 400, { code: 'INVALID_REQUEST', message: 'not paid' });
      const no = String(body.out_refund_no);
      let refund = trade.refunds.get(no);
      if (!refund) {
        refund = { refundId: `5030${String(++seq).padStart(25, '0')}`, amount: amount.refund, status: 'PROCESSING' };
        trade.refunds.set(no, refund);
      }
      return send(res, 200, refundOf(trade, no));
    }
    const refundNo = /^\/v3\/refund\/domestic\/refunds\/([^/]+)$/.exec(url.pathname);
    if (refundNo && req.method === 'GET') {
      const trade = [...trades.values()].find((t) => t.refunds.has(decodeURIComponent(refundNo[1]!)));
      return trade ? send(res, 200, refundOf(trade, decodeURIComponent(refundNo[1]!))) : send(res, 404, { code: 'RESOURCE_NOT_EXISTS', message: 'no refund' });
    }
    send(res, 404, { code: 'NOT_FOUND', message: url.pathname });
  }

  const refundOf = (t: FakeWxTrade, no: string) => {
    const r = t.refunds.get(no)!;
    return { refund_id: r.refundId, out_refund_no: no, out_trade_no: t.outTradeNo, transaction_id: t.transactionId, status: r.status, amount: { refund: r.amount, total: t.total, currency: 'CNY' } };
  };
  const resourceOf = (t: FakeWxTrade) => ({
    mchid: MCHID, appid: t.appid, out_trade_no: t.outTradeNo, transaction_id: t.transactionId, trade_type: t.kind === 'native' ? 'NATIVE' : 'MWEB',
    trade_state: t.state, amount: { total: t.total, payer_total: t.total, currency: 'CNY', payer_currency: 'CNY' },
  });

  function note(eventType: string, resource: Record<string, unknown>, opts: NoteOptions = {}): SignedNote {
    const nonce = crypto.randomBytes(6).toString('hex');
    const aad = 'transaction';
    const cipher = crypto.createCipheriv('aes-256-gcm', Buffer.from(opts.apiV3Key ?? apiV3Key), nonce);
    cipher.setAAD(Buffer.from(aad));
    const ciphertext = Buffer.concat([cipher.update(JSON.stringify(resource), 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64');
    const body = JSON.stringify({
      id: opts.id ?? crypto.randomUUID(), create_time: new Date().toISOString(), resource_type: 'encrypt-resource', event_type: eventType, summary: 'ok',
      resource: { original_type: eventType.startsWith('REFUND') ? 'refund' : 'transaction', algorithm: 'AEAD_AES_256_GCM', ciphertext, associated_data: aad, nonce },
    });
    const ts = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
    const headerNonce = crypto.randomBytes(16).toString('hex');
    return {
      body,
      headers: {
        'content-type': 'application/json', 'wechatpay-timestamp': ts, 'wechatpay-nonce': headerNonce, 'wechatpay-serial': opts.serial ?? PLATFORM_SERIAL,
        'wechatpay-signature': sign(`${ts}\n${headerNonce}\n${body}\n`, opts.signKey),
      },
    };
  }

  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (p: Buffer) => parts.push(p));
    req.on('end', () => {
      const text = Buffer.concat(parts).toString('utf8');
      if (!authorized(req, text)) return send(res, 401, { code: 'SIGN_ERROR', message: 'bad signature' });
      route(req, text ? (JSON.parse(text) as Record<string, unknown>) : {}, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base, mchid: MCHID, appid: APPID, trades, calls,
    env: {
      WECHATPAY_MCHID: MCHID, WECHATPAY_APPID: APPID, WECHATPAY_SERIAL: '5157F09EFDC096DE15EBE81A47057A7232F1B8E1',
      WECHATPAY_PRIVATE_KEY_FILE: files.key, WECHATPAY_APIV3_KEY_FILE: files.v3, WECHATPAY_PLATFORM_KEY_FILE: files.platform,
      WECHATPAY_PLATFORM_SERIAL: PLATFORM_SERIAL, WECHATPAY_API_URL: base,
    },
    pay(outTradeNo) {
      const trade = trades.get(outTradeNo);
      if (!trade) throw new Error(`no trade ${outTradeNo}`);
      trade.state = 'SUCCESS';
      return trade;
    },
    paidNote: (outTradeNo, resource = {}, opts) => note('TRANSACTION.SUCCESS', { ...resourceOf(trades.get(outTradeNo)!), ...resource }, opts),
    finishRefund(outRefundNo) {
      for (const t of trades.values()) {
        const r = t.refunds.get(outRefundNo);
        if (r) r.status = 'SUCCESS';
      }
    },
    refundNote(outRefundNo, opts) {
      for (const t of trades.values()) {
        const r = t.refunds.get(outRefundNo);
        if (r) {
          return note('REFUND.SUCCESS', {
            mchid: MCHID, out_trade_no: t.outTradeNo, transaction_id: t.transactionId, out_refund_no: outRefundNo, refund_id: r.refundId,
            refund_status: 'SUCCESS', amount: { total: t.total, refund: r.amount, payer_total: t.total, payer_refund: r.amount },
          }, opts);
        }
      }
      throw new Error(`no refund ${outRefundNo}`);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
