// What administrators change about sign-in through OpenID Connect: the claim values mapped to
// groups, identities linked to accounts, break-glass password sign-in. Each an audited write
// operation, run by the admin page and the CLI alike.
import { asAdmin, recordAudit, type Actor } from '../admin/actions';
import { findByName } from '../accounts/users';
import { query, type Op } from '../storage/op';
import { linkIdentity } from './accounts';
import type { OidcProviderSettings } from '../oidc-settings';

/** Why an admin's change was refused; `code` is the message key suffix (oidc.admin.error.<code>). */
export class OidcAdminError extends Error {
  constructor(readonly field: 'provider' | 'claim' | 'group' | 'user' | 'subject') {
    super(field);
  }
}

const fits = (v: string) => v.length >= 1 && v.length <= 255;

export function* addMapping(actorId: Actor, provider: OidcProviderSettings | undefined, claimValue: string, groupId: number): Op<void> {
  if (!provider) throw new OidcAdminError('provider');
  if (!fits(claimValue)) throw new OidcAdminError('claim');
  yield* asAdmin(actorId);
  const group = yield* query('groups.byId', { id: groupId });
  if (!group || group.builtin) throw new OidcAdminError('group');
  const { changes } = yield* query('oidc.mapAdd', { provider: provider.id, claimValue, groupId });
  if (changes > 0) yield* recordAudit(actorId, 'oidc_map_add', null, { provider: provider.id, value: claimValue, group: group.name });
}

export function* removeMapping(actorId: Actor, provider: string, claimValue: string, groupId: number): Op<void> {
  yield* asAdmin(actorId);
  const group = yield* query('groups.byId', { id: groupId });
  const { changes } = yield* query('oidc.mapRemove', { provider, claimValue, groupId });
  if (changes > 0) yield* recordAudit(actorId, 'oidc_map_remove', null, { provider, value: claimValue, group: group?.name });
}

/** The admin links an identity (provider + subject) to an existing account, found by username. */
export function* adminLink(actorId: Actor, provider: OidcProviderSettings | undefined, username: string, subject: string): Op<number> {
  if (!provider) throw new OidcAdminError('provider');
  if (!fits(subject)) throw new OidcAdminError('subject');
  yield* asAdmin(actorId);
  const user = username ? yield* findByName(username) : undefined;
  if (!user) throw new OidcAdminError('user');
  yield* linkIdentity(actorId, provider, user.id, subject);
  return user.id;
}

/** Marks an account as one that may sign in with a password when PASSWORD_SIGNIN=off; false when there is no such user. */
export function* setBreakGlass(actorId: Actor, username: string, on: boolean): Op<boolean> {
  yield* asAdmin(actorId);
  const user = yield* findByName(username);
  if (!user) return false;
  yield* query('oidc.setBreakGlass', { id: user.id, on: on ? 1 : 0 });
  yield* recordAudit(actorId, 'break_glass', user.id, { on });
  return true;
}

export function* mayUsePassword(userId: number): Op<boolean> {
  return (yield* query('oidc.breakGlass', { id: userId })) === 1;
}
