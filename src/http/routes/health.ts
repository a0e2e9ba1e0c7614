// GET /healthz for load balancers and probes: 200 when the database answers, 503 when not.
import { Router } from 'express';
import { registry } from '../../metrics';
import type { Store } from '../../storage/op';

export function healthRoutes(store: Store, opts: { metrics: boolean } = { metrics: false }): Router {
  const router = Router();
  // Off unless METRICS=true: a 404 then, like any unknown page. Counts and latencies only.
  if (opts.metrics) {
    router.get('/metrics', async (_req, res) => {
      res.set('Content-Type', registry.contentType).set('Cache-Control', 'no-store').send(await registry.metrics());
    });
  }
  router.get('/healthz', async (_req, res) => {
    const ok = await store.ping();
    res.status(ok ? 200 : 503).set('Cache-Control', 'no-store').json({ status: ok ? 'ok' : 'unavailable' });
  });
  return router;
}
