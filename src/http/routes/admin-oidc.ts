// /admin/oidc: the organisation's sign-in providers as configured, the claim values mapped to
// groups (added and removed here), and linking an identity to an existing account.
import { Router, type Request, type Response } from 'express';
import type { Services } from '../context';
import { bodyOf } from '../input';
import { textOf } from '../group-input';
import { renderPage } from '../views';
import { listGroups } from '../../groups/groups';
import { adminLink, addMapping, OidcAdminError, removeMapping } from '../../oidc/admin';
import { OidcError } from '../../oidc/client';
import { query } from '../../storage/op';

const NOTICES = { mapped: 'oidc.admin.mapped', unmapped: 'oidc.admin.unmapped', linked: 'oidc.admin.linked' } as const;

export function adminOidcRoutes({ config, database }: Services): Router {
  const router = Router();
  const providerOf = (id: string) => config.oidcProviders.find((p) => p.id === id);

  async function page(req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) {
    const [map, groups] = await Promise.all([
      database.read(function* () {
        return yield* query('oidc.mapList', {});
      }),
      database.read(listGroups),
    ]);
    const done = NOTICES[req.query.done as keyof typeof NOTICES];
    renderPage(req, res, 'admin-oidc', {
      title: res.locals.t('oidc.admin.title'), providers: config.oidcProviders.map((p) => ({ id: p.id, label: p.label, groupsClaim: p.groupsClaim, emailDomains: p.emailDomains })),
      map, groups: groups.filter((g) => !g.builtin), notice: done && res.locals.t(done), ...extra,
    }, status);
  }

  // From a user's page: the link form with their username filled in.
  router.get('/', (req, res) => page(req, res, typeof req.query.username === 'string' ? { linkInput: { username: req.query.username.slice(0, 100) } } : {}));

  router.post('/map', async (req, res) => {
    const form = bodyOf(req);
    const input = { provider: textOf(form, 'provider', 40), claim_value: textOf(form, 'claim_value', 300).trim(), group: textOf(form, 'group', 20) };
    try {
      await database.write(addMapping, req.user!.id, providerOf(input.provider), input.claim_value, Number(input.group) || 0);
    } catch (err) {
      if (!(err instanceof OidcAdminError)) throw err;
      const field = { provider: 'provider', claim: 'claim_value', group: 'group', user: 'username', subject: 'subject' }[err.field];
      return page(req, res, { mapErrors: { [field]: res.locals.t(`oidc.admin.error.${err.field}`) }, mapInput: input }, 422);
    }
    res.redirect(303, '/admin/oidc?done=mapped');
  });

  router.post('/map/remove', async (req, res) => {
    const form = bodyOf(req);
    await database.write(removeMapping, req.user!.id, textOf(form, 'provider', 40), textOf(form, 'claim_value', 300), Number(textOf(form, 'group', 20)) || 0);
    res.redirect(303, '/admin/oidc?done=unmapped');
  });

  router.post('/link', async (req, res) => {
    const form = bodyOf(req);
    const input = { link_provider: textOf(form, 'link_provider', 40), username: textOf(form, 'username', 100).trim(), subject: textOf(form, 'subject', 300).trim() };
    try {
      await database.write(adminLink, req.user!.id, providerOf(input.link_provider), input.username, input.subject);
    } catch (err) {
      if (err instanceof OidcError) return page(req, res, { linkErrors: { subject: res.locals.t(`oidc.error.${err.code}`) }, linkInput: input }, 422);
      if (!(err instanceof OidcAdminError)) throw err;
      const field = err.field === 'user' ? 'username' : err.field === 'provider' ? 'link_provider' : err.field;
      return page(req, res, { linkErrors: { [field]: res.locals.t(`oidc.admin.error.${err.field}`) }, linkInput: input }, 422);
    }
    res.redirect(303, '/admin/oidc?done=linked');
  });

  return router;
}
