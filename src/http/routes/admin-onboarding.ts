// /admin/invites (invite links: make one, shown once as a URL; list with who used each; revoke) and
// /admin/users/waiting (accounts waiting for approval: approve, or reject = disable).
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Services } from '../context';
import { AdminError, setDisabled } from '../../admin/actions';
import { listGroups } from '../../groups/groups';
import { createInvite, generateInviteToken, InviteError, inviteUrl, listInvites, revokeInvite } from '../../onboarding/invites';
import { approveUser, pendingUsers } from '../../onboarding/registration';
import { fieldErrors, bodyOf } from '../input';
import { renderPage } from '../views';
import { idParam } from './guards';

const inviteForm = z.object({
  uses: z.coerce.number({ message: 'uses' }).int('uses').min(1, 'uses').max(100_000, 'uses'),
  days: z.coerce.number({ message: 'expiry' }).int('expiry').min(1, 'expiry').max(365, 'expiry'),
  note: z.string().trim().max(200, 'note').transform((v) => v || null).optional(),
  groups: z.union([z.string(), z.array(z.string())]).optional()
    .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]).map(Number).filter((n) => Number.isInteger(n) && n > 0)),
});

export function adminOnboardingRoutes({ config, database }: Services): Router {
  const router = Router();

  async function invitesPage(req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) {
    const groups = (await database.read(listGroups)).filter((g) => !g.builtin);
    renderPage(req, res, 'admin-invites', {
      title: res.locals.t('invites.title'), invites: await database.read(listInvites, new Date(), 200), groups,
      mode: config.registrationMode, input: { uses: '30', days: '7' }, notice: req.query.done === 'revoke' ? 'revoke' : undefined, ...extra,
    }, status);
  }

  router.get('/invites', (req, res) => invitesPage(req, res));

  router.post('/invites', async (req, res) => {
    const body = bodyOf(req);
    const parsed = inviteForm.safeParse(body);
    if (!parsed.success) {
      const errors = Object.fromEntries(Object.entries(fieldErrors(parsed.error)).map(([k, v]) => [k, res.locals.t(`invites.error.${v}` as never)]));
      return invitesPage(req, res, { errors, input: body }, 422);
    }
    const { uses, days, note, groups } = parsed.data;
    const token = generateInviteToken();
    const expiresAt = new Date(Date.now() + days * 86_400_000);
    try {
      await database.write(createInvite, req.user!.id, { uses, expiresAt, groupIds: groups, note: note ?? null }, token);
    } catch (err) {
      if (!(err instanceof InviteError)) throw err;
      return invitesPage(req, res, { formError: res.locals.t(`invites.error.${err.code}` as never), input: body }, 422);
    }
    // The one time the link exists in full: on this page, never in a redirect's address.
    const base = config.publicUrl ?? `${req.protocol}://${req.get('host')}`;
    await invitesPage(req, res, { made: { url: inviteUrl(base, token), uses, expiresAt: expiresAt.toISOString() } }, 201);
  });

  router.post('/invites/:id/revoke', async (req, res) => {
    try {
      await database.write(revokeInvite, req.user!.id, idParam(req));
    } catch (err) {
      if (!(err instanceof InviteError)) throw err;
      return invitesPage(req, res, { formError: res.locals.t(`invites.error.${err.code}` as never) }, 422);
    }
    res.redirect(303, '/admin/invites?done=revoke');
  });

  async function waitingPage(req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) {
    const done = req.query.done;
    renderPage(req, res, 'admin-waiting', {
      title: res.locals.t('waiting.title'), rows: await database.read(pendingUsers), mode: config.registrationMode,
      notice: done === 'approve' || done === 'reject' ? done : undefined, ...extra,
    }, status);
  }

  router.get('/users/waiting', (req, res) => waitingPage(req, res));

  for (const action of ['approve', 'reject'] as const) {
    router.post(`/users/:id/${action}`, async (req, res) => {
      const userId = idParam(req);
      try {
        if (action === 'approve') await database.write(approveUser, req.user!.id, userId);
        else await database.write(setDisabled, req.user!.id, userId, true);
      } catch (err) {
        if (!(err instanceof AdminError)) throw err;
        return waitingPage(req, res, { actionError: res.locals.t(`admin.error.${err.code}`, err.vars) }, 422);
      }
      res.redirect(303, `/admin/users/waiting?done=${action}`);
    });
  }

  return router;
}
