// Admin API routes for invite links (onboarding/invites.ts): list them with who used each, make
// one (its link is in this answer only, never again), revoke one. The same audited operations as
// /admin/invites, with the key's maker as actor and the key named on the audit rows.
import { withKey } from '../../admin/api-keys';
import { createInvite, EXPIRY_DAYS_MAX, generateInviteToken, inviteUrl, listInvites, NOTE_MAX, revokeInvite, USES_MAX } from '../../onboarding/invites';
import { bodyOf, idOf, textOf, wholeOf } from './input';
import { ApiFail, type ApiRoute } from './table';

/** group_ids: a list of at most 20 group ids (none: the link joins no group). */
function groupIdsOf(value: unknown): number[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 20 || !value.every((v) => Number.isSafeInteger(v) && (v as number) > 0)) {
    throw new ApiFail(422, 'invalid', 'group_ids must be a list of at most 20 group ids.', 'group_ids');
  }
  return value as number[];
}

export const inviteRoutes: ApiRoute[] = [
  {
    method: 'get', path: '/invites', scope: 'read', tag: 'invites', summary: 'The newest 200 invite links: state, uses, groups, and who registered through each',
    handler: async ({ services }) => ({ invites: await services.database.read(listInvites, new Date(), 200) }),
  },
  {
    method: 'post', path: '/invites', scope: 'write', tag: 'invites', created: true,
    summary: 'Make an invite link (returned in this answer only): uses, days until it expires, the groups new accounts join, a note',
    body: {
      properties: {
        uses: { type: 'integer', minimum: 1, maximum: USES_MAX }, expires_in_days: { type: 'integer', minimum: 1, maximum: EXPIRY_DAYS_MAX },
        group_ids: { type: 'array', items: { type: 'integer' }, maxItems: 20 }, note: { type: 'string', maxLength: NOTE_MAX },
      },
      required: ['uses', 'expires_in_days'],
    },
    handler: async ({ services, key }, req) => {
      const body = bodyOf(req);
      const uses = wholeOf(body.uses, 'uses', 1, USES_MAX);
      const days = wholeOf(body.expires_in_days, 'expires_in_days', 1, EXPIRY_DAYS_MAX);
      const groupIds = groupIdsOf(body.group_ids);
      const note = textOf(body.note, 'note', NOTE_MAX, true) || null;
      const token = generateInviteToken();
      const expiresAt = new Date(Date.now() + days * 86_400_000);
      const id = await services.database.write(withKey(key.id, createInvite), key.actorId, { uses, expiresAt, groupIds, note }, token);
      const base = services.config.publicUrl ?? `${req.protocol}://${req.get('host')}`;
      return { invite: { id, url: inviteUrl(base, token), uses, expires_at: expiresAt.toISOString(), group_ids: groupIds, note } };
    },
  },
  {
    method: 'post', path: '/invites/:id/revoke', scope: 'write', tag: 'invites', summary: 'Revoke an invite link: it admits nobody more',
    handler: async ({ services, key }, req) => {
      const id = idOf(req);
      await services.database.write(withKey(key.id, revokeInvite), key.actorId, id);
      return { revoked: id };
    },
  },
];
