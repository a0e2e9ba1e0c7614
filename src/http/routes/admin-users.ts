// /admin/users: search, create, and one user's page with grant/deduct, disable/enable, role and
// password reset. Every change goes through admin.ts, which records it in the audit log.
import { Router, type Request, type Response } from 'express';
import type { Services } from '../context';
import { AdminError, grantTokens, recordUserCreated, resetPassword, revokeUserKey, setDisabled, setRole } from '../../admin/actions';
import { keysOf } from '../../accounts/api-keys';
import { groupsOf } from '../../groups/groups';
import { adminUser, auditPage, searchUsers } from '../../admin/queries';
import { wantsJson } from '../errors';
import { HttpError } from '../http-error';
import { bodyOf, fieldErrors, grantForm, page as pageParam } from '../input';
import { ledgerPage } from '../../reports/usage-report';
import { bucketsOf } from '../../reports/bucket-ledger';
import { refillDate } from '../../reports/period-names';
import { zoneSetting } from '../../ledger/periods';
import { checkPassword, createUser, UserInputError, type User } from '../../accounts/users';
import { renderPage } from '../views';
import { limitsFrom, limitsInput, userLimitsView } from '../limits-input';
import { setUserLimits } from '../../groups/limit-changes';
import { idParam } from './guards';
import { confirmedOrAsk, type Question } from '../confirm-first';

/** Messages a redirect may ask the next page to show; nothing else from the query is echoed. */
const NOTICES = ['granted', 'disabled', 'enabled', 'role', 'password', 'created', 'key_revoked'] as const;

export function adminUserRoutes({ config, database, hasher, running }: Services): Router {
  const router = Router();

  async function listPage(req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) {
    const q = typeof req.query.q === 'string' ? req.query.q.slice(0, 64) : '';
    const pageNo = pageParam.parse(req.query.page);
    renderPage(req, res, 'admin-users', { title: res.locals.t('admin.users'), q, pageNo, ...(await database.read(searchUsers, q, pageNo)), ...extra }, status);
  }

  async function userPage(req: Request, res: Response, userId: number, extra: Record<string, unknown> = {}, status = 200) {
    const user = await database.read(adminUser, userId);
    if (!user) throw new HttpError(404);
    const notice = NOTICES.find((n) => n === req.query.done);
    renderPage(req, res, 'admin-user', {
      title: user.username, target: user, notice, ledger: (await database.read(ledgerPage, userId, {}, 1, 20)).rows,
      audit: (await database.read(auditPage, 1, userId, 20)).rows, keys: await database.read(keysOf, userId),
      groups: await database.read(groupsOf, userId), ...(await userLimitsView(database, userId, req.query)),
      buckets: await database.read(bucketsOf, userId), zone: await database.read(zoneSetting), refillDate, ...extra,
    }, status);
  }

  /** Answers a refused action: 422 with the reason, on the user's page or as JSON. */
  async function refused(req: Request, res: Response, userId: number, err: AdminError) {
    const message = res.locals.t(`admin.error.${err.code}`, err.vars);
    if (err.code === 'no_user') throw new HttpError(404);
    if (wantsJson(req)) return res.status(422).json({ error: { status: 422, reason: err.code, message } });
    await userPage(req, res, userId, { actionError: message }, 422);
  }

  function run(action: (req: Request, userId: number) => Promise<unknown>, done: (typeof NOTICES)[number]) {
    return async (req: Request, res: Response) => {
      const userId = idParam(req);
      try {
        await action(req, userId);
      } catch (err) {
        if (err instanceof AdminError) return refused(req, res, userId, err);
        throw err;
      }
      if (wantsJson(req)) return res.json({ user: await database.read(adminUser, userId) });
      res.redirect(303, `/admin/users/${userId}?done=${done}`);
    };
  }

  router.get('/', (req, res) => listPage(req, res));

  router.post('/', async (req, res) => {
    const { username, password, admin } = bodyOf(req);
    const role = admin === 'on' || admin === true ? 'admin' : 'user';
    try {
      const also = (created: User) => recordUserCreated(req.user!.id, created.id, role);
      const user = await createUser(database, hasher, { username, password, role }, { signupBonus: config.signupBonus, also });
      if (wantsJson(req)) return res.status(201).json({ user: await database.read(adminUser, user.id) });
      res.redirect(303, `/admin/users/${user.id}?done=created`);
    } catch (err) {
      if (!(err instanceof UserInputError)) throw err;
      const message = res.locals.t(`error.${err.code}` as never);
      if (wantsJson(req)) return res.status(422).json({ error: { status: 422, field: err.field, message } });
      const input = { username: typeof username === 'string' ? username.slice(0, 64) : '', admin: role === 'admin' };
      await listPage(req, res, { createErrors: { [err.field]: message }, createInput: input }, 422);
    }
  });

  router.get('/:id', (req, res) => userPage(req, res, idParam(req)));

  router.post('/:id/limits', async (req, res) => {
    const userId = idParam(req);
    const { limits, errors } = limitsFrom(bodyOf(req));
    if (errors) {
      if (wantsJson(req)) return res.status(422).json({ error: { status: 422, fields: Object.keys(errors), message: res.locals.t('error.422') } });
      return userPage(req, res, userId, { limitsErrors: errors, limitsInput: limitsInput(bodyOf(req)) }, 422);
    }
    try {
      await database.write(setUserLimits, req.user!.id, userId, limits);
    } catch (err) {
      if (err instanceof AdminError) return refused(req, res, userId, err);
      throw err;
    }
    if (wantsJson(req)) return res.json({ limits });
    res.redirect(303, `/admin/users/${userId}?limits=saved#limits`);
  });

  router.post('/:id/grant', (req, res) => {
    const userId = idParam(req);
    const parsed = grantForm.safeParse(req.body ?? {});
    if (!parsed.success) {
      const errors = fieldErrors(parsed.error);
      if (wantsJson(req)) return res.status(422).json({ error: { status: 422, fields: errors, message: res.locals.t('error.422') } });
      return userPage(req, res, userId, { grantErrors: errors, grantInput: req.body }, 422);
    }
    const { direction, amount, note } = parsed.data;
    return run((r, id) => database.write(grantTokens, r.user!.id, id, direction === 'deduct' ? -amount : amount, note), 'granted')(req, res);
  });

  /** Asks first (confirm-first.ts) about the user of the path, who must exist; then runs `action`. */
  type Ask = (t: Response['locals']['t'], name: string, req: Request) => Omit<Question, 'cancel'> | undefined | Promise<Omit<Question, 'cancel'>>;
  const askingFirst = (ask: Ask, action: ReturnType<typeof run>) =>
    async (req: Request, res: Response) => {
      const userId = idParam(req);
      const user = await database.read(adminUser, userId);
      if (!user) throw new HttpError(404);
      const question = await ask(res.locals.t, user.username, req);
      if (question && !confirmedOrAsk(req, res, () => ({ ...question, cancel: `/admin/users/${userId}` }))) return;
      await action(req, res);
    };

  router.post('/:id/disable', askingFirst((t, name) => ({ question: t('confirm.disable', { name }), detail: t('confirm.disable_detail', { name }), button: t('admin.disable') }), run(async (req, id) => {
    await database.write(setDisabled, req.user!.id, id, true);
    running.stopAll(id); // sessions end at their next request; a turn streaming now ends here
  }, 'disabled')));
  router.post('/:id/enable', run((req, id) => database.write(setDisabled, req.user!.id, id, false), 'enabled'));
  const keyNamed = async (t: Response['locals']['t'], name: string, req: Request) => {
    const key = (await database.read(keysOf, idParam(req))).find((k) => String(k.id) === req.params.key && !k.revokedAt);
    if (!key) throw new HttpError(404); // not this user's, or revoked already
    return { question: t('confirm.revoke_user_key', { key: key.name, name }), detail: t('confirm.revoke_key_detail'), button: t('keys.revoke') };
  };
  router.post('/:id/keys/:key/revoke', askingFirst(keyNamed, run(async (req, id) => {
    const key = Number(req.params.key);
    await database.write(revokeUserKey, req.user!.id, id, key, new Date().toISOString());
    running.revokeKey(id, key); // its calls running now, on any process, stop here
  }, 'key_revoked')));
  router.post('/:id/role', (req, res) => {
    const { role } = bodyOf(req);
    if (role !== 'admin' && role !== 'user') throw new HttpError(400);
    // Making an administrator a member takes their access away at once: asked first.
    const ask = (t: Response['locals']['t'], name: string) => role === 'user' ? { question: t('confirm.demote', { name }), detail: t('confirm.demote_detail', { name }), button: t('admin.demote'), fields: { role } } : undefined;
    return askingFirst(ask, run((r, id) => database.write(setRole, r.user!.id, id, role), 'role'))(req, res);
  });

  router.post('/:id/password', async (req, res) => {
    const userId = idParam(req);
    let password: string;
    try {
      password = checkPassword(bodyOf(req).password);
    } catch (err) {
      if (!(err instanceof UserInputError)) throw err;
      const message = res.locals.t(`error.${err.code}` as never);
      if (wantsJson(req)) return res.status(422).json({ error: { status: 422, field: 'password', message } });
      return userPage(req, res, userId, { passwordError: message }, 422);
    }
    const hash = await hasher.hash(password);
    return run(async (r, id) => {
      const epoch = await database.write(resetPassword, r.user!.id, id, hash, bodyOf(r).must_change === '1');
      if (id === r.user!.id) r.session.epoch = epoch; // resetting your own password keeps this session
    }, 'password')(req, res);
  });

  return router;
}
