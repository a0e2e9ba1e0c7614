// Admin API routes for groups: list, one, create, rename, delete, rules (models and percent),
// members added and removed, allowance and limits. Each write is groups/*.ts's audited operation,
// the one the group page runs, with the key's maker as actor and the key named on its audit rows.
import { withKey } from '../../admin/api-keys';
import { allowanceSummary } from '../../groups/allowance-summary';
import { setAllowance } from '../../groups/allowances';
import { addMembers, createGroup, deleteGroup, findGroup, listGroups, membersOf, removeMembers, renameGroup, setGroupRules } from '../../groups/groups';
import { setGroupLimits } from '../../groups/limit-changes';
import { groupLimitsOf } from '../../ledger/limit-rules';
import { allowanceFrom, allowanceInput } from '../allowance-input';
import { limitsFrom } from '../limits-input';
import { bodyOf, idOf, pageOf, paged, textOf, userIdsOf } from './input';
import { LIMITS_BODY } from './users';
import { ApiFail, type ApiContext, type ApiRoute } from './table';

async function groupOr404({ services }: ApiContext, id: number) {
  const group = await services.database.read(findGroup, id);
  if (!group) throw new ApiFail(404, 'no_group', 'No such group.');
  return group;
}

const PAGE = [{ name: 'page', in: 'query' as const, type: 'integer' as const }, { name: 'per_page', in: 'query' as const, type: 'integer' as const }];
const USER_IDS = { properties: { user_ids: { type: 'array', items: { type: 'integer' }, minItems: 1, maxItems: 1000 } }, required: ['user_ids'] };

function membersRoute(add: boolean): ApiRoute {
  return {
    method: 'post', path: `/groups/:id/members${add ? '' : '/remove'}`, scope: 'write', tag: 'groups', body: USER_IDS,
    summary: add ? 'Add users to a group (allowance buckets open as the group says)' : 'Remove users from a group (their buckets of it close)',
    handler: async (ctx, req) => {
      const id = idOf(req);
      const ids = userIdsOf(bodyOf(req));
      const changed = await ctx.services.database.write(withKey(ctx.key.id, add ? addMembers : removeMembers), ctx.key.actorId, id, ids, new Date());
      return { [add ? 'added' : 'removed']: changed };
    },
  };
}

export const groupRoutes: ApiRoute[] = [
  {
    method: 'get', path: '/groups', scope: 'read', tag: 'groups', summary: 'List groups with their rules and member counts; paginated', query: PAGE,
    handler: async ({ services }, req) => {
      const { page, perPage } = pageOf(req);
      const all = await services.database.read(listGroups);
      return paged('groups', all.slice((page - 1) * perPage, page * perPage), page, all.length > page * perPage);
    },
  },
  {
    method: 'post', path: '/groups', scope: 'write', tag: 'groups', created: true, summary: 'Create a group',
    body: { properties: { name: { type: 'string', maxLength: 60 } }, required: ['name'] },
    handler: async (ctx, req) => {
      const name = textOf(bodyOf(req).name, 'name', 1000)!;
      const id = await ctx.services.database.write(withKey(ctx.key.id, createGroup), ctx.key.actorId, name);
      return { group: await groupOr404(ctx, id) };
    },
  },
  {
    method: 'get', path: '/groups/:id', scope: 'read', tag: 'groups', summary: 'One group: rules, limits, allowance',
    handler: async (ctx, req) => {
      const id = idOf(req);
      const group = await groupOr404(ctx, id);
      const db = ctx.services.database;
      return { group, limits: await db.read(groupLimitsOf, id), allowance: await db.read(allowanceSummary, id, new Date()) };
    },
  },
  {
    method: 'patch', path: '/groups/:id', scope: 'write', tag: 'groups', summary: 'Rename a group',
    body: { properties: { name: { type: 'string', maxLength: 60 } }, required: ['name'] },
    handler: async (ctx, req) => {
      const id = idOf(req);
      await ctx.services.database.write(withKey(ctx.key.id, renameGroup), ctx.key.actorId, id, textOf(bodyOf(req).name, 'name', 1000)!);
      return { group: await groupOr404(ctx, id) };
    },
  },
  {
    method: 'delete', path: '/groups/:id', scope: 'write', tag: 'groups', summary: 'Delete a group (its members leave it; Everyone cannot be deleted)',
    handler: async (ctx, req) => {
      await ctx.services.database.write(withKey(ctx.key.id, deleteGroup), ctx.key.actorId, idOf(req), new Date());
      return { deleted: true };
    },
  },
  {
    method: 'put', path: '/groups/:id/rules', scope: 'write', tag: 'groups', summary: "Set a group's models (null: every model) and price percent",
    body: { properties: { models: { type: ['array', 'null'], items: { type: 'string' } }, price_percent: { type: 'integer', minimum: 1, maximum: 1000 } }, required: ['models', 'price_percent'] },
    handler: async (ctx, req) => {
      const id = idOf(req);
      const body = bodyOf(req);
      const models = body.models;
      if (models !== null && !(Array.isArray(models) && models.length <= 500 && models.every((m) => typeof m === 'string'))) throw new ApiFail(422, 'invalid', 'models must be null or a list of model ids.', 'models');
      const pricePercent = Number.isSafeInteger(body.price_percent) ? (body.price_percent as number) : Number.NaN;
      const known = ctx.services.allModels.models.map((m) => m.id);
      await ctx.services.database.write(withKey(ctx.key.id, setGroupRules), ctx.key.actorId, id, { models: models as string[] | null, pricePercent }, known);
      return { group: await groupOr404(ctx, id) };
    },
  },
  {
    method: 'get', path: '/groups/:id/members', scope: 'read', tag: 'groups', summary: "A group's members; paginated", query: PAGE,
    handler: async (ctx, req) => {
      const id = idOf(req);
      await groupOr404(ctx, id);
      const { page, perPage } = pageOf(req);
      const all = await ctx.services.database.read(membersOf, id);
      return paged('members', all.slice((page - 1) * perPage, page * perPage), page, all.length > page * perPage);
    },
  },
  membersRoute(true),
  membersRoute(false),
  {
    method: 'get', path: '/groups/:id/allowance', scope: 'read', tag: 'allowances', summary: "A group's allowance: its rule, the people it reaches, what is left, the next refill",
    handler: async (ctx, req) => ({ allowance: await ctx.services.database.read(allowanceSummary, (await groupOr404(ctx, idOf(req))).id, new Date()) }),
  },
  {
    method: 'put', path: '/groups/:id/allowance', scope: 'write', tag: 'allowances', summary: "Set a group's allowance (amount null: none), now or from the next period",
    body: {
      properties: {
        amount: { type: ['integer', 'null'], minimum: 1 }, period: { enum: ['day', 'week', 'month'] }, mode: { enum: ['reset', 'add'] },
        cap: { type: ['integer', 'null'] }, join: { enum: ['full', 'prorata'] }, apply: { enum: ['now', 'next'] },
      },
      required: ['amount'],
    },
    handler: async (ctx, req) => {
      const id = idOf(req);
      const asked = allowanceFrom(allowanceInput(bodyOf(req)));
      await ctx.services.database.write(withKey(ctx.key.id, setAllowance), ctx.key.actorId, id, asked.config, asked.apply, new Date());
      return { allowance: await ctx.services.database.read(allowanceSummary, id, new Date()) };
    },
  },
  {
    method: 'get', path: '/groups/:id/limits', scope: 'read', tag: 'limits', summary: "A group's limits",
    handler: async (ctx, req) => ({ limits: await ctx.services.database.read(groupLimitsOf, (await groupOr404(ctx, idOf(req))).id) }),
  },
  {
    method: 'put', path: '/groups/:id/limits', scope: 'write', tag: 'limits', summary: "Set a group's limits (null: none)", body: LIMITS_BODY,
    handler: async (ctx, req) => {
      const id = idOf(req);
      const { limits, errors } = limitsFrom(bodyOf(req));
      if (errors) throw new ApiFail(422, 'invalid', 'Each limit must be a whole number from 1, or null.', Object.keys(errors)[0]);
      await ctx.services.database.write(withKey(ctx.key.id, setGroupLimits), ctx.key.actorId, id, limits);
      return { limits: await ctx.services.database.read(groupLimitsOf, id) };
    },
  },
];
