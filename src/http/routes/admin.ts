// /admin: for administrators only; everyone else, signed in or not, gets 404. Users and codes have
// their own routers; system usage and the audit log are read-only pages here.
import { Router } from 'express';
import type { Services } from '../app';
import { auditPage, systemTotals } from '../../admin/queries';
import { chargeChart } from '../../reports/chart';
import { page as pageParam } from '../input';
import { withRateText } from '../../metering/models';
import { startOfUtcDay } from '../../ledger/spend-limits';
import { summary, topUsers } from '../../reports/usage-report';
import { renderPage } from '../views';
import { adminCodeRoutes } from './admin-codes';
import { adminUserRoutes } from './admin-users';
import { adminOnly } from './guards';

export function adminRoutes(services: Services): Router {
  const router = Router();
  const store = services.database;
  router.use(adminOnly);

  router.get('/', (_req, res) => res.redirect(303, '/admin/users'));
  router.use('/users', adminUserRoutes(services));
  router.use('/codes', adminCodeRoutes(services));

  router.get('/usage', async (req, res) => {
    const report = await store.read(summary);
    const monthStart = `${startOfUtcDay().slice(0, 7)}-01T00:00:00.000Z`;
    const totals = await store.read(systemTotals);
    const models = withRateText(services.allModels.models);
    renderPage(req, res, 'admin-usage', {
      title: res.locals.t('admin.usage'), ...report, ...totals, models,
      chart: chargeChart(report.daily),
      topAllTime: await store.read(topUsers, 10), topMonth: await store.read(topUsers, 10, monthStart),
    });
  });

  router.get('/audit', async (req, res) => {
    const pageNo = pageParam.parse(req.query.page);
    renderPage(req, res, 'admin-audit', { title: res.locals.t('admin.audit'), pageNo, ...(await store.read(auditPage, pageNo)) });
  });

  return router;
}
