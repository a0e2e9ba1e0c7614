// Admin API routes for users: list and search, one user, create, disable and enable, grant and
// deduct, their limits and usage. Each write is the operation the admin pages run (admin/actions.ts,
// groups/limit-changes.ts), with the key's maker as actor and the key named on its audit rows.
import { grantTokens, recordUserCreated, setDisabled } from '../../admin/actions';
import { withKey } from '../../admin/api-keys';
import { adminUser, searchUsers } from '../../admin/queries';
import { createUser, type User } from '../../accounts/users';
import { groupsOf } from '../../groups/groups';
import { setUserLimits } from '../../groups/limit-changes';
import { appliedLimitsOf, userLimitsOf } from '../../ledger/limit-rules';
import { MAX_AMOUNT } from '../../ledger/ledger';
import { userSummary } from '../../reports/usage-report';
import { limitsFrom } from '../limits-input';
import { bodyOf, idOf, pageOf, paged, textOf, wholeOf } from './input';
import { ApiFail, type ApiContext, type ApiRoute } from './table';

const LIMITS_BODY = {
  properties: Object.fromEntries(['tokens_per_day', 'tokens_per_month', 'requests_per_minute', 'requests_per_hour', 'answers_at_once'].map((f) => [f, { type: ['integer', 'null'], minimum: 1 }])),
};

async function userOr404({ services }: ApiContext, id: number) {
  const user = await services.database.read(adminUser, id);
  if (!user) throw new ApiFail(404, 'no_user', 'No such user.');
  return user;
}

function grantRoute(direction: 'grant' | 'deduct'): ApiRoute {
  return {
    method: 'post', path: `/users/:id/${direction}`, scope: 'write', tag: 'users',
    summary: direction === 'grant' ? 'Grant tokens to a user (own tokens, a ledger row, audited)' : 'Deduct tokens from a user (never below zero)',
    body: { properties: { amount: { type: 'integer', minimum: 1 }, note: { type: 'string', maxLength: 200 } }, required: ['amount'] },
    handler: async (ctx, req) => {
      const id = idOf(req);
      const body = bodyOf(req);
      const amount = wholeOf(body.amount, 'amount', 1, MAX_AMOUNT);
      const note = textOf(body.note, 'note', 200, true);
      const balance = await ctx.services.database.write(withKey(ctx.key.id, grantTokens), ctx.key.actorId, id, direction === 'deduct' ? -amount : amount, note || undefined);
      return { balance };
    },
  };
}

function disableRoute(disabled: boolean): ApiRoute {
  return {
    method: 'post', path: `/users/:id/${disabled ? 'disable' : 'enable'}`, scope: 'write', tag: 'users',
    summary: disabled ? 'Disable a user: their sessions, keys and running answers end' : 'Enable a disabled user',
    handler: async (ctx, req) => {
      const id = idOf(req);
      await ctx.services.database.write(withKey(ctx.key.id, setDisabled), ctx.key.actorId, id, disabled);
      if (disabled) ctx.services.running.stopAll(id);
      return { user: await userOr404(ctx, id) };
    },
  };
}

export const userRoutes: ApiRoute[] = [
  {
    method: 'get', path: '/users', scope: 'read', tag: 'users', summary: 'List users, optionally those whose name contains q; paginated',
    query: [{ name: 'q', in: 'query', type: 'string' }, { name: 'page', in: 'query', type: 'integer' }, { name: 'per_page', in: 'query', type: 'integer' }],
    handler: async ({ services }, req) => {
      const { page, perPage } = pageOf(req);
      const q = typeof req.query.q === 'string' ? req.query.q.slice(0, 64) : '';
      const found = await services.database.read(searchUsers, q, page, perPage);
      return paged('users', found.rows, page, found.hasMore);
    },
  },
  {
    method: 'post', path: '/users', scope: 'write', tag: 'users', created: true, summary: 'Create an account (with the sign-up bonus), audited',
    body: { properties: { username: { type: 'string' }, password: { type: 'string', minLength: 8 }, role: { enum: ['user', 'admin'] } }, required: ['username', 'password'] },
    handler: async (ctx, req) => {
      const body = bodyOf(req);
      const role = body.role === undefined ? 'user' : body.role;
      if (role !== 'user' && role !== 'admin') throw new ApiFail(422, 'invalid', 'role must be user or admin.', 'role');
      const { services, key } = ctx;
      const also = withKey(key.id, (created: User) => recordUserCreated(key.actorId, created.id, role));
      const user = await createUser(services.database, services.hasher, { username: body.username, password: body.password, role }, { signupBonus: services.config.signupBonus, also });
      return { user: await userOr404(ctx, user.id) };
    },
  },
  {
    method: 'get', path: '/users/:id', scope: 'read', tag: 'users', summary: 'One user: balance, spending, groups, limits',
    handler: async (ctx, req) => {
      const id = idOf(req);
      const user = await userOr404(ctx, id);
      const db = ctx.services.database;
      return { user, groups: (await db.read(groupsOf, id)).map((g) => ({ id: g.id, name: g.name })), limits: await db.read(userLimitsOf, id), applied_limits: await db.read(appliedLimitsOf, id) };
    },
  },
  disableRoute(true),
  disableRoute(false),
  grantRoute('grant'),
  grantRoute('deduct'),
  {
    method: 'put', path: '/users/:id/limits', scope: 'write', tag: 'limits', summary: "Set the limits an admin sets for one user (null: none; their groups' apply)",
    body: LIMITS_BODY,
    handler: async (ctx, req) => {
      const id = idOf(req);
      const { limits, errors } = limitsFrom(bodyOf(req));
      if (errors) throw new ApiFail(422, 'invalid', 'Each limit must be a whole number from 1, or null.', Object.keys(errors)[0]);
      await ctx.services.database.write(withKey(ctx.key.id, setUserLimits), ctx.key.actorId, id, limits);
      return { limits: await ctx.services.database.read(userLimitsOf, id) };
    },
  },
  {
    method: 'get', path: '/users/:id/usage', scope: 'read', tag: 'reports', summary: "A user's usage: today, this month, all time, by model, by day, by key",
    handler: async (ctx, req) => {
      const id = idOf(req);
      await userOr404(ctx, id);
      return { usage: await ctx.services.database.read(userSummary, id, new Date()) };
    },
  },
];

export { LIMITS_BODY };
