// Who may create an account (REGISTRATION_MODE) and what happens to it: through an invite link it
// takes a use and joins the link's groups; under `approval` it waits (status 'pending') until an
// admin approves it. An admin's invite implies approval, so an account made through a link is
// active at once in every mode. The very first account (the first admin) never waits.
import { asAdmin, recordAudit, AdminError, type Actor } from '../admin/actions';
import type { Config } from '../config';
import { query, type Op } from '../storage/op';
import type { User } from '../storage/queries/accounts';
import type { PendingUserRow } from '../storage/queries/invites';
import { inviteByToken, stateOf, useInvite, type InviteState } from './invites';

export type RegistrationMode = Config['registrationMode'];

/** What /register offers: the form (with the invite it carries, if any), or why not. */
export type RegisterGate =
  | { open: true; invite: string | null; pending: boolean }
  | { open: false; reason: 'closed' | 'need_invite' | Exclude<InviteState, 'live'> };

/** Decides from the mode and the token presented (read only; the write checks the invite again). */
export function* registerGate(mode: RegistrationMode, token: unknown, now = new Date()): Op<RegisterGate> {
  if (mode === 'closed') return { open: false, reason: 'closed' };
  const presented = typeof token === 'string' && token !== '';
  if (!presented) return mode === 'invite' ? { open: false, reason: 'need_invite' } : { open: true, invite: null, pending: mode === 'approval' };
  const state = stateOf(yield* inviteByToken(token), now);
  return state === 'live' ? { open: true, invite: token as string, pending: false } : { open: false, reason: state };
}

/** What createUser runs in the account's own write for an open gate. */
export function onboard(gate: RegisterGate & { open: true }, now = new Date()): (user: User) => Op<void> {
  return function* (user) {
    if (gate.invite !== null) yield* useInvite(gate.invite, user.id, now);
    else if (gate.pending && user.role !== 'admin') yield* query('invites.setPending', { userId: user.id });
  };
}

/** Lets a waiting account in; audited. A write operation. Rejecting is disabling (admin/actions setDisabled). */
export function* approveUser(actorId: Actor, userId: number): Op<void> {
  yield* asAdmin(actorId);
  if ((yield* query('invites.approve', { userId })).changes === 0) throw new AdminError('unchanged');
  yield* recordAudit(actorId, 'user_approve', userId);
}

export function* pendingUsers(): Op<PendingUserRow[]> {
  return yield* query('invites.pending', {});
}
