// GET /healthz for load balancers and probes: 200 when the database answers, 503 when not.
import { Router } from 'express';
import type { Store } from '../storage/op';

export function healthRoutes(store: Store): Router {
  const router = Router();
  router.get('/healthz', async (_req, res) => {
    const ok = await store.ping();
    res.status(ok ? 200 : 503).set('Cache-Control', 'no-store').json({ status: ok ? 'ok' : 'unavailable' });
  });
  return router;
}
