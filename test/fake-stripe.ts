// A local Stripe API for tests: node:http on 127.0.0.1 answering what tokenchat asks of Stripe
// (POST /v1/checkout/sessions, form-encoded as the SDK sends it), with Stripe's idempotency: the
// same Idempotency-Key gets the same session. Events are signed with the SDK's own test helper.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';

export interface SessionRequest {
  form: URLSearchParams;
  idempotencyKey: string | undefined;
  authorization: string | undefined;
}

/** A Checkout session as the fake made it: its id and address, and whatever else Stripe answers. */
export type CheckoutSession = Record<string, unknown> & { id: string; url: string };

export interface FakeStripe {
  url: string;
  requests: SessionRequest[];
  /** The sessions made, by id. */
  sessions: Map<string, CheckoutSession>;
  /** Answer the next `times` session creations with this HTTP status (a Stripe outage). */
  failNext(status: number, times?: number): void;
  close(): Promise<void>;
}

export async function startFakeStripe(): Promise<FakeStripe> {
  const requests: SessionRequest[] = [];
  const sessions = new Map<string, CheckoutSession>();
  const byKey = new Map<string, { params: string; session: CheckoutSession }>();
  let failure: number | undefined;
  let failures = 0;
  let seq = 0;
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (p: Buffer) => parts.push(p));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(parts).toString('utf8'));
      const idempotencyKey = req.headers['idempotency-key'] as string | undefined;
      const send = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${++seq}` }).end(JSON.stringify(body));
      if (req.method !== 'POST' || req.url !== '/v1/checkout/sessions') return send(404, { error: { type: 'invalid_request_error', message: `no ${req.method} ${req.url}` } });
      requests.push({ form, idempotencyKey, authorization: req.headers.authorization });
      if (failure && failures > 0) {
        failures--;
        return send(failure, { error: { type: 'api_error', message: 'fake Stripe outage' } });
      }
      // Stripe's idempotency: the same key answers the same session, and refuses other parameters.
      const again = idempotencyKey ? byKey.get(idempotencyKey) : undefined;
      if (again && again.params !== form.toString()) {
        return send(400, { error: { type: 'idempotency_error', message: 'Keys for idempotent requests can only be used with the same parameters they were first used with.' } });
      }
      if (again) return send(200, again.session);
      const id = `cs_test_${++seq}${Math.random().toString(36).slice(2, 8)}`;
      const session = {
        id, object: 'checkout.session', mode: 'payment', status: 'open', payment_status: 'unpaid',
        url: `https://checkout.stripe.com/c/pay/${id}`,
        amount_total: Number(form.get('line_items[0][price_data][unit_amount]')) * Number(form.get('line_items[0][quantity]')),
        currency: form.get('line_items[0][price_data][currency]'),
        client_reference_id: form.get('client_reference_id'),
        metadata: { order_id: form.get('metadata[order_id]'), user_id: form.get('metadata[user_id]') },
        expires_at: Number(form.get('expires_at')),
        success_url: form.get('success_url'), cancel_url: form.get('cancel_url'), locale: form.get('locale'),
        payment_intent: null,
      };
      sessions.set(id, session);
      if (idempotencyKey) byKey.set(idempotencyKey, { params: form.toString(), session });
      send(200, session);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    sessions,
    failNext: (status, times = 1) => {
      failure = status;
      failures = times;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const signer = new Stripe('sk_test_signer');

/** An event body and its Stripe-Signature header, signed with `secret` at `timestamp` (seconds). */
export function signedEvent(event: object, secret: string, timestamp = Math.floor(Date.now() / 1000)): { body: string; signature: string } {
  const body = JSON.stringify({ object: 'event', api_version: '2025-01-27', created: timestamp, livemode: false, ...event });
  return { body, signature: signer.webhooks.generateTestHeaderString({ payload: body, secret, timestamp }) };
}
