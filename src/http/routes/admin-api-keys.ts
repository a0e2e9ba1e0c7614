// /admin/api-keys: an admin makes admin API keys (shown once), sees each key's scope, expiry, uses
// and last use, and revokes them. Mounted under adminRoutes (admins only, sessions and CSRF).
import { Router, type Request, type Response } from 'express';
import type { Services } from '../context';
import { AdminKeyError, ADMIN_KEY_DAYS_MAX, checkNewKey, createAdminKey, generateAdminKey, listAdminKeys, revokeAdminKey } from '../../admin/api-keys';
import { bodyOf } from '../input';
import { renderPage } from '../views';
import { idParam } from './guards';
import { HttpError } from '../http-error';

export function adminApiKeyRoutes({ database }: Services): Router {
  const router = Router();

  async function page(req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) {
    renderPage(req, res, 'admin-api-keys', {
      title: res.locals.t('admin_keys.title'), keys: await database.read(listAdminKeys), now: new Date().toISOString(), daysMax: ADMIN_KEY_DAYS_MAX,
      revoked: req.query.done === 'revoked', ...extra,
    }, status);
  }

  router.get('/', (req, res) => page(req, res));

  router.post('/', async (req, res) => {
    const form = bodyOf(req);
    const input = { name: typeof form.name === 'string' ? form.name.slice(0, 100) : '', scope: form.scope === 'write' ? 'write' : 'read', days: typeof form.days === 'string' ? form.days.slice(0, 8) : '' };
    let asked;
    try {
      asked = checkNewKey({ name: form.name, scope: form.scope, days: form.days });
    } catch (err) {
      if (!(err instanceof AdminKeyError)) throw err;
      return page(req, res, { errors: { [err.code]: res.locals.t(`admin_keys.error.${err.code as 'name' | 'scope' | 'days'}`, { max: ADMIN_KEY_DAYS_MAX }) }, input }, 422);
    }
    const key = generateAdminKey();
    await database.write(createAdminKey, req.user!.id, asked, key, new Date());
    // Shown in this answer only: the key is not kept, and a reload does not show it again.
    await page(req, res, { created: { key, name: asked.name } }, 201);
  });

  router.post('/:id/revoke', async (req, res) => {
    try {
      await database.write(revokeAdminKey, req.user!.id, idParam(req), new Date());
    } catch (err) {
      if (err instanceof AdminKeyError) throw new HttpError(404);
      throw err;
    }
    res.redirect(303, '/admin/api-keys?done=revoked');
  });

  return router;
}
