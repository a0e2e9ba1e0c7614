// The API keys page: a user makes keys for /v1 (shown once, in full), sees them by name, prefix and
// last four with what each has spent, and revokes them. Handlers only parse, call one operation
// and render; the rules are in accounts/api-keys.ts.
import { Router, type Request, type Response } from 'express';
import type { Services } from '../context';
import { createKeyFromForm, generateKey, keysOf, revokeKey } from '../../accounts/api-keys';
import { fieldErrors, keyForm } from '../input';
import { formIdOf, newFormId } from '../form-id';
import { HttpError } from '../http-error';
import { renderPage } from '../views';
import { idParam, signedIn } from './guards';
import { confirmedOrAsk } from '../confirm-first';
import { accessOf } from '../../groups/access';

/** The base URL a client is given: this server's own origin, as the browser reached it. */
export function apiBaseUrl(req: Request): string {
  return `${req.protocol}://${req.get('host')}/v1`;
}

export function keyRoutes({ database, allModels, running }: Services): Router {
  // A key may be for embedding models too: every model served that the user's groups allow is offered.
  const router = Router();
  const usable = async (req: Request) => (await database.read(accessOf, req.user!.id)).catalog(allModels);

  async function page(req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) {
    const keys = await database.read(keysOf, req.user!.id);
    // Each rendering of the form gets its own id: the same form sent twice makes one key.
    const formId = newFormId();
    const { models } = await usable(req);
    renderPage(req, res, 'keys', { title: res.locals.t('keys.title'), keys, models, baseUrl: apiBaseUrl(req), formId, ...extra }, status);
  }

  router.get('/keys', signedIn, async (req, res) => page(req, res, { revoked: req.query.revoked === '1' }));

  router.post('/keys', signedIn, async (req, res) => {
    const parsed = keyForm.safeParse(req.body ?? {});
    const models = await usable(req);
    const unknown = parsed.success && parsed.data.models?.find((id) => !models.find(id));
    if (!parsed.success || unknown) {
      const errors = parsed.success ? { models: 'models' } : fieldErrors(parsed.error);
      return page(req, res, { errors, input: req.body }, 422);
    }
    const { name, expires, models: allowed, per_day: perDay, total, rpm, tpm } = parsed.data;
    const made = await database.write(createKeyFromForm, req.user!.id, { name, expiresAt: expires, models: allowed, perDay, total, rpm, tpm }, generateKey(), formIdOf(req));
    // Sent again (a reload of this page): the key was made and shown then, and is not kept to show again.
    if (!made) return page(req, res, { repeated: true }, 409);
    await page(req, res, { made: { name, key: made.key } }, 201);
  });

  router.post('/keys/:id/revoke', signedIn, async (req, res) => {
    // Someone else's key, or one already revoked, is a page that does not exist.
    const id = idParam(req);
    const key = (await database.read(keysOf, req.user!.id)).find((k) => k.id === id && !k.revokedAt);
    if (!key) throw new HttpError(404);
    const { t } = res.locals;
    if (!confirmedOrAsk(req, res, () => ({ question: t('confirm.revoke_key', { name: key.name }), detail: t('confirm.revoke_key_detail'), button: t('keys.revoke'), cancel: '/keys' }))) return;
    if (!(await database.write(revokeKey, id, req.user!.id, new Date().toISOString()))) throw new HttpError(404);
    running.revokeKey(req.user!.id, id); // its calls running now, on any process, stop here
    res.redirect(303, '/keys?revoked=1');
  });

  return router;
}
