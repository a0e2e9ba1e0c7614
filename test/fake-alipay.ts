// A local Alipay open platform for tests: node:http on 127.0.0.1 at /gateway.do, with RSA keys made
// here. It checks each request's RSA2 signature with the application's public key (as Alipay does),
// answers alipay.trade.page.pay / wap.pay (the page the user is sent to: it records the trade),
// alipay.trade.query, .close and .refund with answers signed by "Alipay's" private key, and builds
// the asynchronous notifications Alipay would send, signed the same way, for a test to post.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';

export interface FakeTrade {
  outTradeNo: string;
  tradeNo: string;
  amount: string;
  method: string;
  notifyUrl: string;
  status: 'WAIT_BUYER_PAY' | 'TRADE_SUCCESS' | 'TRADE_CLOSED';
  refunded: number;
  refundRequests: Set<string>;
}

export interface FakeAlipay {
  url: string;
  appId: string;
  /** The settings that point tokenchat at this fake (key files written to `dir`). */
  env: Record<string, string>;
  trades: Map<string, FakeTrade>;
  /** Methods asked, in order (alipay.trade.query, ...). */
  calls: string[];
  /** Marks the trade paid, as when the user pays on Alipay's page. */
  pay(outTradeNo: string): FakeTrade;
  /** A notification's form body, signed with `key` (Alipay's unless said), after `extra` is applied. */
  notification(outTradeNo: string, extra?: Record<string, string | undefined>, key?: crypto.KeyObject): Record<string, string>;
  /** Signs these exact parameters as Alipay signs a notification. */
  sign(params: Record<string, string>, key?: crypto.KeyObject): string;
  close(): Promise<void>;
}

const pair = () => crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const yuanToFen = (v: string) => Math.round(Number(v) * 100);
const fenToYuan = (f: number) => (f / 100).toFixed(2);

/** Alipay's way: every parameter but `sign` (and for notifications `sign_type`), sorted, k=v joined by &. */
export function signContent(params: Record<string, string>, without: string[]): string {
  return Object.keys(params).filter((k) => !without.includes(k)).sort().map((k) => `${k}=${params[k]}`).join('&');
}

export async function startFakeAlipay(dir: string): Promise<FakeAlipay> {
  const app = pair();
  const alipay = pair();
  const appId = '2021000000000001';
  const trades = new Map<string, FakeTrade>();
  const calls: string[] = [];
  let seq = 0;
  // The application's private key as Alipay's console hands it out: bare base64 PKCS#1.
  const appKeyFile = path.join(dir, 'alipay-app-private.txt');
  fs.writeFileSync(appKeyFile, app.privateKey.export({ type: 'pkcs1', format: 'der' }).toString('base64'));
  const alipayKeyFile = path.join(dir, 'alipay-public.pem');
  fs.writeFileSync(alipayKeyFile, alipay.publicKey.export({ type: 'spki', format: 'pem' }));
  const sign = (params: Record<string, string>, key = alipay.privateKey) => crypto.createSign('RSA-SHA256').update(signContent(params, ['sign', 'sign_type']), 'utf8').sign(key, 'base64');

  const answer = (res: http.ServerResponse, method: string, body: Record<string, unknown>) => {
    const inner = JSON.stringify(body);
    const signature = crypto.createSign('RSA-SHA256').update(inner, 'utf8').sign(alipay.privateKey, 'base64');
    res.writeHead(200, { 'content-type': 'application/json;charset=utf-8' }).end(`{"${method.replaceAll('.', '_')}_response":${inner},"sign":"${signature}"}`);
  };
  const missing = { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_NOT_EXIST', sub_msg: 'trade not exist' };

  function exec(method: string, biz: Record<string, string>, res: http.ServerResponse) {
    const trade = trades.get(biz.out_trade_no ?? '');
    if (method === 'alipay.trade.query') {
      if (!trade) return answer(res, method, missing);
      return answer(res, method, { code: '10000', msg: 'Success', out_trade_no: trade.outTradeNo, trade_no: trade.tradeNo, trade_status: trade.status, total_amount: trade.amount });
    }
    if (method === 'alipay.trade.close') {
      if (!trade) return answer(res, method, missing);
      if (trade.status === 'TRADE_SUCCESS') return answer(res, method, { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_STATUS_ERROR', sub_msg: 'trade status error' });
      trade.status = 'TRADE_CLOSED';
      return answer(res, method, { code: '10000', msg: 'Success', out_trade_no: trade.outTradeNo });
    }
    if (method === 'alipay.trade.refund') {
      if (!trade || trade.status !== 'TRADE_SUCCESS') return answer(res, method, { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_STATUS_ERROR', sub_msg: 'not paid' });
      // The same out_request_no again is the same refund (fund_change N).
      const again = trade.refundRequests.has(biz.out_request_no ?? '');
      if (!again) {
        const amount = yuanToFen(biz.refund_amount ?? '0');
        if (trade.refunded + amount > yuanToFen(trade.amount)) return answer(res, method, { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', sub_msg: 'too much' });
        trade.refunded += amount;
        trade.refundRequests.add(biz.out_request_no ?? '');
      }
      return answer(res, method, { code: '10000', msg: 'Success', out_trade_no: trade.outTradeNo, trade_no: trade.tradeNo, fund_change: again ? 'N' : 'Y', refund_fee: fenToYuan(trade.refunded) });
    }
    answer(res, method, { code: '40004', msg: 'Business Failed', sub_code: 'isv.invalid-method' });
  }

  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (p: Buffer) => parts.push(p));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const params: Record<string, string> = { ...Object.fromEntries(url.searchParams), ...Object.fromEntries(new URLSearchParams(Buffer.concat(parts).toString('utf8'))) };
      if (url.pathname !== '/gateway.do') return res.writeHead(404).end();
      const signed = crypto.createVerify('RSA-SHA256').update(signContent(params, ['sign']), 'utf8').verify(app.publicKey, params.sign ?? '', 'base64');
      const method = params.method ?? '';
      calls.push(method);
      if (!signed || params.app_id !== appId || params.sign_type !== 'RSA2') return answer(res, method, { code: '40002', msg: 'Invalid Arguments', sub_code: 'isv.invalid-signature' });
      const biz = JSON.parse(params.biz_content ?? '{}') as Record<string, string>;
      if (method === 'alipay.trade.page.pay' || method === 'alipay.trade.wap.pay') {
        const outTradeNo = biz.out_trade_no ?? '';
        if (!trades.has(outTradeNo)) {
          trades.set(outTradeNo, { outTradeNo, tradeNo: `2026${String(++seq).padStart(12, '0')}`, amount: biz.total_amount ?? '', method, notifyUrl: params.notify_url ?? '', status: 'WAIT_BUYER_PAY', refunded: 0, refundRequests: new Set() });
        }
        return res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><title>Fake Alipay</title><p>Pay ${biz.total_amount} for ${outTradeNo}</p>`);
      }
      exec(method, biz, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base, appId, trades, calls,
    env: { ALIPAY_APP_ID: appId, ALIPAY_PRIVATE_KEY_FILE: appKeyFile, ALIPAY_PUBLIC_KEY_FILE: alipayKeyFile, ALIPAY_GATEWAY_URL: `${base}/gateway.do` },
    pay(outTradeNo) {
      const trade = trades.get(outTradeNo);
      if (!trade) throw new Error(`no trade ${outTradeNo}`);
      trade.status = 'TRADE_SUCCESS';
      return trade;
    },
    notification(outTradeNo, extra = {}, key) {
      const trade = trades.get(outTradeNo)!;
      const params: Record<string, string> = {
        notify_time: '2026-12-06 12:00:00', notify_type: 'trade_status_sync', notify_id: crypto.randomUUID().replaceAll('-', ''),
        app_id: appId, charset: 'utf-8', version: '1.0', out_trade_no: outTradeNo, trade_no: trade.tradeNo,
        trade_status: trade.status, total_amount: trade.amount, receipt_amount: trade.amount, subject: 'tokens', seller_id: '2088000000000001',
      };
      for (const [k, v] of Object.entries(extra)) {
        if (v === undefined) delete params[k];
        else params[k] = v;
      }
      return { ...params, sign_type: 'RSA2', sign: sign(params, key) };
    },
    sign,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
