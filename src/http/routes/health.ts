// GET /healthz for load balancers and probes: 200 when the database answers, 503 when not, within
// HEALTH_TIMEOUT_MS either way (a probe that waits on a stalled database would hold the balancer's
// checks up, and hide the outage from it).
import { Router } from 'express';
import { registry } from '../../metrics';
import type { Store } from '../../storage/op';

/** The longest /healthz waits for the database's answer. */
export const HEALTH_TIMEOUT_MS = 1500;

/** Whether the store answers its ping within `ms`. */
async function answersWithin(store: Store, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([store.ping().catch(() => false), late]);
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(store: Store, opts: { metrics: boolean } = { metrics: false }): Router {
  const router = Router();
  // Off unless METRICS=true: a 404 then, like any unknown page. Counts and latencies only.
  if (opts.metrics) {
    router.get('/metrics', async (_req, res) => {
      res.set('Content-Type', registry.contentType).set('Cache-Control', 'no-store').send(await registry.metrics());
    });
  }
  router.get('/healthz', async (_req, res) => {
    res.set('Cache-Control', 'no-store');
    if (await answersWithin(store, HEALTH_TIMEOUT_MS)) return void res.json({ status: 'ok' });
    res.status(503).set('Retry-After', '5').json({ status: 'unavailable', error: `the database did not answer within ${HEALTH_TIMEOUT_MS} ms` });
  });
  return router;
}
