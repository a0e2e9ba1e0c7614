// /admin: for administrators only; everyone else, signed in or not, gets 404. Users, groups and codes have
// their own routers; system usage and the audit log are read-only pages here.
import { Router } from 'express';
import type { Services } from '../context';
import { auditPage, systemTotals } from '../../admin/queries';
import { chargeChart } from '../../reports/chart';
import { page as pageParam } from '../input';
import { withRateText } from '../../metering/models';
import { startOfUtcDay } from '../../ledger/spend-limits';
import { byProvider, summary, topUsers } from '../../reports/usage-report';
import { ModelsFileError } from '../../metering/models';
import { renderPage } from '../views';
import { adminCodeRoutes } from './admin-codes';
import { groupRosterRoutes } from './group-roster';
import { adminGroupRoutes } from './admin-groups';
import { adminApiKeyRoutes } from './admin-api-keys';
import { adminGroupUsageRoutes } from './admin-group-usage';
import { adminUserRoutes } from './admin-users';
import { adminOnboardingRoutes } from './admin-onboarding';
import { adminOidcRoutes } from './admin-oidc';
import { adminPresetRoutes } from './admin-presets';
import { adminOnly } from './guards';

export function adminRoutes(services: Services): Router {
  const router = Router();
  const store = services.database;
  router.use(adminOnly);

  router.get('/', (_req, res) => res.redirect(303, '/admin/users'));
  router.use(adminOnboardingRoutes(services)); // /invites and /users/waiting, before /users/:id
  router.use('/users', adminUserRoutes(services));
  router.use('/codes', adminCodeRoutes(services));
  router.use('/presets', adminPresetRoutes(services));
  router.use('/oidc', adminOidcRoutes(services));
  router.use('/groups', adminGroupRoutes(services));
  router.use('/api-keys', adminApiKeyRoutes(services));
  router.use('/groups', groupRosterRoutes(services)); // /:id/roster: the roster import
  router.use('/usage', adminGroupUsageRoutes(services));

  router.get('/usage', async (req, res) => {
    const report = await store.read(summary);
    const monthStart = `${startOfUtcDay().slice(0, 7)}-01T00:00:00.000Z`;
    const totals = await store.read(systemTotals);
    const models = withRateText(services.allModels.models);
    renderPage(req, res, 'admin-usage', {
      title: res.locals.t('admin.usage'), ...report, ...totals, models, byProvider: await store.read(byProvider, monthStart),
      chart: chargeChart(report.daily),
      topAllTime: await store.read(topUsers, 10), topMonth: await store.read(topUsers, 10, monthStart),
    });
  });

  // Each provider as this process sees it (its breaker, its last hour), and the reload of the models file.
  const providersPage = (req: Parameters<typeof renderPage>[0], res: Parameters<typeof renderPage>[1], extra: Record<string, unknown> = {}, status = 200) =>
    renderPage(req, res, 'admin-providers', {
      title: res.locals.t('admin.providers'), providers: services.upstream.status(), demo: services.upstream.demo, ...extra,
    }, status);
  router.get('/providers', (req, res) => providersPage(req, res, { reloaded: req.query.done === 'reload' }));
  router.post('/providers/reload', async (req, res) => {
    try {
      await services.reloadModels();
    } catch (err) {
      // A bad file changes nothing; the page says why (the message names the file and the field, never a key).
      if (!(err instanceof ModelsFileError)) throw err;
      services.logger.warn({ err: err.message, admin: req.user!.id }, 'the models file was not reloaded');
      return providersPage(req, res, { reloadError: err.message }, 422);
    }
    services.logger.info({ admin: req.user!.id }, 'models file reloaded from the Providers page');
    res.redirect(303, '/admin/providers?done=reload');
  });

  router.get('/audit', async (req, res) => {
    const pageNo = pageParam.parse(req.query.page);
    renderPage(req, res, 'admin-audit', { title: res.locals.t('admin.audit'), pageNo, ...(await store.read(auditPage, pageNo)) });
  });

  return router;
}
