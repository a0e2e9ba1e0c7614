// /admin/groups: the groups with their member counts, and one group's page: its rules (the models
// its members may use, the percent of the price they pay), its members (removed many at once) and a
// search to add more. Every change is an operation of groups/groups.ts, which audits it.
import { Router, type Request, type Response } from 'express';
import type { Services } from '../context';
import {
  addMembers, createGroup, deleteGroup, findGroup, GroupError, listGroups, membersOf, removeMembers, renameGroup, setGroupRules, type Group,
} from '../../groups/groups';
import { searchUsers } from '../../admin/queries';
import { HttpError } from '../http-error';
import { rulesFrom, rulesInput, textOf, userIdsFrom } from '../group-input';
import { bodyOf } from '../input';
import { GROUP_PROMPT_MAX, promptOfGroup, setGroupPrompt } from '../../groups/prompt';
import { promptFrom, promptInput } from '../group-prompt-input';
import { renderPage } from '../views';
import { groupLimitsView, limitsFrom, limitsInput } from '../limits-input';
import { setGroupLimits } from '../../groups/limit-changes';
import { idParam } from './guards';
import { AllowanceError, allowanceFrom, allowanceInput, groupAllowanceView, zoneView } from '../allowance-input';
import { setAllowance, setTimeZone } from '../../groups/allowances';

/** Messages a redirect may ask the group's page to show; nothing else from the query is echoed but a count. */
const NOTICES = ['created', 'renamed', 'rules', 'added', 'removed'] as const;
/** Users a search lists at most; more matching is said, and the admin narrows the search. */
const CANDIDATES = 100;

type Extra = Record<string, unknown>;

export function adminGroupRoutes({ database, allModels }: Services): Router {
  const router = Router();
  const message = (res: Response, err: GroupError) => res.locals.t(`groups.error.${err.code}`, err.vars);

  async function listPage(req: Request, res: Response, extra: Extra = {}, status = 200) {
    const notice = req.query.done === 'deleted' ? 'deleted' : undefined;
    renderPage(req, res, 'admin-groups', { title: res.locals.t('groups.title'), groups: await database.read(listGroups), notice, ...(await zoneView(database, req.query)), ...extra }, status);
  }

  async function groupPage(req: Request, res: Response, id: number, extra: Extra = {}, status = 200) {
    const group = await database.read(findGroup, id);
    if (!group) throw new HttpError(404);
    const members = group.builtin ? [] : await database.read(membersOf, id);
    const form = bodyOf(req);
    const q = typeof req.query.q === 'string' ? req.query.q.slice(0, 64) : typeof form.q === 'string' ? textOf(form, 'q', 64) : undefined;
    let candidates;
    let moreCandidates = false;
    if (q !== undefined && !group.builtin) {
      // The search's users not yet in the group (the first CANDIDATES matches).
      const found = await database.read(searchUsers, q, 1, CANDIDATES);
      const inGroup = new Set(members.map((m) => m.userId));
      candidates = found.rows.filter((u) => !inGroup.has(u.id));
      moreCandidates = found.hasMore;
    }
    const notice = NOTICES.find((n) => n === req.query.done);
    renderPage(req, res, 'admin-group', {
      title: group.name, group, members, models: allModels.models, q: q ?? '', candidates, moreCandidates,
      notice, count: Number(req.query.n) || 0, ...(await groupLimitsView(database, id, req.query)), ...(await groupAllowanceView(database, id, req.query)),
      prompt: await database.read(promptOfGroup, id), promptMax: GROUP_PROMPT_MAX, promptSaved: req.query.done === 'prompt', ...extra,
    }, status);
  }

  /** Runs a change of one group; a refusal is 422 on the group's page (`onPage` says where its message goes), a missing group 404. */
  function change(run: (req: Request, group: number) => Promise<string>, onPage: (err: GroupError, text: string, req: Request) => Extra = () => ({})) {
    return async (req: Request, res: Response) => {
      const id = idParam(req);
      let next: string;
      try {
        next = await run(req, id);
      } catch (err) {
        if (!(err instanceof GroupError)) throw err;
        if (err.code === 'no_group') throw new HttpError(404);
        const text = message(res, err);
        const extra = onPage(err, text, req);
        return groupPage(req, res, id, Object.keys(extra).length ? extra : { actionError: text }, 422);
      }
      res.redirect(303, next);
    };
  }

  router.get('/', (req, res) => listPage(req, res));

  router.post('/', async (req, res) => {
    const name = textOf(bodyOf(req), 'name', 1000);
    try {
      const id = await database.write(createGroup, req.user!.id, name);
      res.redirect(303, `/admin/groups/${id}?done=created`);
    } catch (err) {
      if (!(err instanceof GroupError)) throw err;
      await listPage(req, res, { createErrors: { name: message(res, err) }, createInput: { name: name.slice(0, 200) } }, 422);
    }
  });

  router.get('/:id', (req, res) => groupPage(req, res, idParam(req)));

  // The organisation's time zone, which calendar periods (allowances, daily and monthly limits) count in.
  router.post('/zone', async (req, res) => {
    const zone = typeof bodyOf(req).zone === 'string' ? String(bodyOf(req).zone).trim() : '';
    try {
      await database.write(setTimeZone, req.user!.id, zone);
    } catch (err) {
      if (!(err instanceof AllowanceError)) throw err;
      return listPage(req, res, { zoneErrors: { zone: res.locals.t('allowance.error.zone', err.vars) }, zoneInput: zone.slice(0, 64) }, 422);
    }
    res.redirect(303, '/admin/groups?zone=saved#zone');
  });

  router.post('/:id/allowance', async (req, res) => {
    const id = idParam(req);
    const input = allowanceInput(bodyOf(req));
    let asked;
    try {
      asked = allowanceFrom(input);
    } catch (err) {
      if (!(err instanceof AllowanceError)) throw err;
      return groupPage(req, res, id, { allowanceErrors: { [err.code]: res.locals.t(`allowance.error.${err.code}`, err.vars) }, allowanceInput: input }, 422);
    }
    await change(async (r) => {
      await database.write(setAllowance, r.user!.id, id, asked.config, asked.apply);
      return `/admin/groups/${id}?allowance=saved#allowance`;
    })(req, res);
  });

  router.post('/:id/limits', async (req, res) => {
    const id = idParam(req);
    const { limits, errors } = limitsFrom(bodyOf(req));
    if (errors) return groupPage(req, res, id, { limitsErrors: errors, limitsInput: limitsInput(bodyOf(req)) }, 422);
    await change(async (r) => {
      await database.write(setGroupLimits, r.user!.id, id, limits);
      return `/admin/groups/${id}?limits=saved#limits`;
    })(req, res);
  });

  router.post('/:id/rename', change(async (req, id) => {
    await database.write(renameGroup, req.user!.id, id, textOf(bodyOf(req), 'name', 1000));
    return `/admin/groups/${id}?done=renamed`;
  }, (err, text, req) => (err.code === 'builtin' ? {} : { renameErrors: { name: text }, renameInput: { name: textOf(bodyOf(req), 'name') } })));

  router.post('/:id/rules', change(async (req, id) => {
    await database.write(setGroupRules, req.user!.id, id, rulesFrom(bodyOf(req)), allModels.models.map((m) => m.id));
    return `/admin/groups/${id}?done=rules`;
  }, (err, text, req) => ({ rulesErrors: { [err.code === 'unknown_model' ? 'models' : 'price_percent']: text }, rulesInput: rulesInput(bodyOf(req)) })));

  router.post('/:id/prompt', change(async (req, id) => {
    await database.write(setGroupPrompt, req.user!.id, id, promptFrom(bodyOf(req)));
    return `/admin/groups/${id}?done=prompt`;
  }, (_err, text, req) => ({ promptErrors: { system_prompt: text }, promptInput: promptInput(bodyOf(req)) })));

  // Delete cannot be undone: asked once more, on a page (so without JavaScript too).
  router.post('/:id/delete', async (req, res) => {
    const group = await database.read(findGroup, idParam(req));
    if (!group) throw new HttpError(404);
    if (bodyOf(req).confirm === '1' || group.builtin) return change(async (r, id) => {
      await database.write(deleteGroup, r.user!.id, id);
      return '/admin/groups?done=deleted';
    })(req, res);
    confirmDelete(req, res, group);
  });

  // Many users at once: the boxes ticked in the members list, or in the search's results.
  for (const [path, op, done] of [['add', addMembers, 'added'], ['remove', removeMembers, 'removed']] as const) {
    const run = change(async (req, id) => {
      const form = bodyOf(req);
      const changed = await database.write(op, req.user!.id, id, userIdsFrom(form)!);
      const q = path === 'add' && typeof form.q === 'string' ? `&q=${encodeURIComponent(textOf(form, 'q', 64))}` : '';
      return `/admin/groups/${id}?done=${done}&n=${changed.length}${q}`;
    });
    router.post(`/:id/members/${path}`, async (req, res) => {
      const users = userIdsFrom(bodyOf(req));
      if (!users) throw new HttpError(400); // not a user id: no form of ours sends it
      if (users.length > 0) return run(req, res);
      await groupPage(req, res, idParam(req), { actionError: res.locals.t('groups.none_selected') }, 422);
    });
  }

  return router;
}

function confirmDelete(req: Request, res: Response, group: Group) {
  const t = res.locals.t;
  renderPage(req, res, 'confirm', {
    title: t('groups.confirm_delete', { name: group.name }), question: t('groups.confirm_delete', { name: group.name }),
    detail: t('groups.confirm_delete_detail', { n: group.members.toLocaleString(res.locals.locale) }),
    action: `/admin/groups/${group.id}/delete`, button: t('groups.delete_submit'), cancel: `/admin/groups/${group.id}`,
  });
}
