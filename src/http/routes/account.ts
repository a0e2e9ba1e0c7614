// /account: the signed-in person's own page, where they change their own password (current one
// required; their other sessions end, this one stays). /account/password is the same page, where
// the password gate sends someone who must change theirs first.
import { Router, type Request, type Response } from 'express';
import type { Services } from '../context';
import { changeOwnPassword } from '../../accounts/own-password';
import { wantsJson } from '../errors';
import { bodyOf } from '../input';
import { renderPage } from '../views';
import { CHANGE_PASSWORD_PATH } from '../password-gate';
import { signedIn } from './guards';
import { query } from '../../storage/op';
import { setTimeZone, TIME_ZONES } from '../../accounts/time-zone';
import { HttpError } from '../http-error';

export function accountRoutes({ database, hasher }: Services): Router {
  const router = Router();

  async function page(req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) {
    const row = await database.read(function* () {
      return yield* query('account.passwordHash', { id: req.user!.id });
    });
    renderPage(req, res, 'account', {
      title: res.locals.t('account.title'), noPassword: row?.password_hash === null, saved: req.query.done === 'password',
      zoneSaved: req.query.done === 'time-zone', zones: TIME_ZONES, ...extra,
    }, status);
  }

  router.get('/account', signedIn, (req, res) => page(req, res));
  router.get(CHANGE_PASSWORD_PATH, signedIn, (req, res) => page(req, res));

  router.post(CHANGE_PASSWORD_PATH, signedIn, async (req, res) => {
    const { current, password, confirm } = bodyOf(req);
    const result = await changeOwnPassword(database, hasher, req.user!.id, { current, password, confirm });
    if (!result.ok) {
      const own = ['current_wrong', 'no_password', 'changed', 'same'].includes(result.code);
      const text = res.locals.t((own ? `account.error.${result.code}` : `error.${result.code}`) as never);
      const status = 422; // a form with errors, re-rendered with its messages
      if (wantsJson(req)) return res.status(status).json({ error: { status, field: result.field, message: text } });
      return page(req, res, { errors: { [result.field]: text } }, status);
    }
    req.session.epoch = result.epoch; // this session goes on; the others carry the old epoch and end
    if (wantsJson(req)) return res.status(204).end();
    res.redirect(303, '/account?done=password');
  });

  // The zone times are shown in: '' for automatic (the browser's with JavaScript, else the organisation's).
  router.post('/account/time-zone', signedIn, async (req, res) => {
    const { zone } = bodyOf(req);
    if (typeof zone !== 'string') throw new HttpError(400);
    if (!(await database.write(setTimeZone, req.user!.id, zone === '' ? null : zone))) {
      if (wantsJson(req)) return res.status(422).json({ error: { status: 422, field: 'zone', message: res.locals.t('account.zone_unknown') } });
      return page(req, res, { zoneError: res.locals.t('account.zone_unknown') }, 422);
    }
    if (wantsJson(req)) return res.status(204).end();
    res.redirect(303, '/account?done=time-zone#time-zone-title');
  });

  return router;
}
