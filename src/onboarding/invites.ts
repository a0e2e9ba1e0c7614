// Invite links (issue 25, onboarding a class): an admin makes a link with an expiry, a number of
// uses and the groups its new accounts join; registering through it takes one use in the same
// write that creates the account, so two people on the last use cannot both get in. The token is
// shown once and kept only as its SHA-256. This module owns invites, invite_groups and invite_uses.
import crypto from 'node:crypto';
import { asAdmin, recordAudit, type Actor } from '../admin/actions';
import { addMembers, findGroup } from '../groups/groups';
import { query, type Op } from '../storage/op';
import type { InviteGroupRow, InviteRow, InviteUseRow } from '../storage/queries/invites';

export type { InviteRow } from '../storage/queries/invites';

export const USES_MAX = 100_000;
export const EXPIRY_DAYS_MAX = 365;
export const NOTE_MAX = 200;
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{32}$/;

/** Why a link cannot be used now; `code` is the message key suffix (invite.state.<code>). */
export type InviteState = 'live' | 'unknown' | 'used_up' | 'expired' | 'revoked';

/** Why an invite operation was refused; `code` is the message key suffix (invites.error.<code>). */
export class InviteError extends Error {
  constructor(readonly code: 'uses' | 'expiry' | 'note' | 'no_group' | 'builtin_group' | 'no_invite' | 'unchanged' | InviteState) {
    super(code);
  }
}

export interface NewInvite {
  uses: number;
  expiresAt: Date;
  groupIds: readonly number[];
  note: string | null;
}

export const hashInviteToken = (token: string): string => crypto.createHash('sha256').update(token).digest('hex');

export function generateInviteToken(): string {
  return crypto.randomBytes(24).toString('base64url'); // 32 characters, 192 bits
}

/** The link a person opens: PUBLIC_URL when set, else the address the admin's request came to. */
export function inviteUrl(base: string, token: string): string {
  return `${base.replace(/\/+$/, '')}/register?invite=${encodeURIComponent(token)}`;
}

/** Makes an invite inside a write; answers its id (the token was made by the caller and is shown once). */
export function* createInvite(actorId: Actor, input: NewInvite, token: string, now = new Date()): Op<number> {
  yield* asAdmin(actorId);
  if (!Number.isInteger(input.uses) || input.uses < 1 || input.uses > USES_MAX) throw new InviteError('uses');
  const days = (input.expiresAt.getTime() - now.getTime()) / 86_400_000;
  if (!(days > 0) || days > EXPIRY_DAYS_MAX) throw new InviteError('expiry');
  if (input.note !== null && (input.note.length < 1 || input.note.length > NOTE_MAX)) throw new InviteError('note');
  const id = yield* query('invites.insert', {
    tokenHash: hashInviteToken(token), prefix: token.slice(0, 6), note: input.note, maxUses: input.uses,
    expiresAt: input.expiresAt.toISOString(), createdBy: actorId,
  });
  const names: string[] = [];
  for (const groupId of new Set(input.groupIds)) {
    const group = yield* findGroup(groupId);
    if (!group) throw new InviteError('no_group');
    if (group.builtin) throw new InviteError('builtin_group');
    yield* query('invites.addGroup', { inviteId: id, groupId });
    names.push(group.name);
  }
  yield* recordAudit(actorId, 'invite_create', null, { invite: id, uses: input.uses, expires: input.expiresAt.toISOString(), groups: names });
  return id;
}

export function* revokeInvite(actorId: Actor, id: number, now = new Date()): Op<void> {
  yield* asAdmin(actorId);
  const invite = yield* query('invites.byId', { id });
  if (!invite) throw new InviteError('no_invite');
  if ((yield* query('invites.revoke', { id, now: now.toISOString() })).changes === 0) throw new InviteError('unchanged');
  yield* recordAudit(actorId, 'invite_revoke', null, { invite: id });
}

export function stateOf(invite: InviteRow | undefined, now: Date): InviteState {
  if (!invite) return 'unknown';
  if (invite.revokedAt !== null) return 'revoked';
  if (invite.expiresAt <= now.toISOString()) return 'expired';
  if (invite.uses >= invite.maxUses) return 'used_up';
  return 'live';
}

/** What a presented token is now, read before a registration hashes its password (the write checks again). */
export function* inviteByToken(token: unknown): Op<InviteRow | undefined> {
  if (typeof token !== 'string' || !TOKEN_SHAPE.test(token)) return undefined;
  return yield* query('invites.byHash', { hash: hashInviteToken(token) });
}

/**
 * Inside the write that creates `userId`: takes one use of the link (refusing with its state if
 * another registration took the last one meanwhile, which rolls the account back), records who
 * used it and adds them to its groups (which gives their allowance).
 */
export function* useInvite(token: string, userId: number, now = new Date()): Op<void> {
  const invite = yield* inviteByToken(token);
  const taken = invite && (yield* query('invites.take', { id: invite.id, now: now.toISOString() }));
  if (!invite || taken === undefined) throw new InviteError(invite ? nonLive(stateOf(invite, now)) : 'unknown');
  yield* query('invites.recordUse', { inviteId: invite.id, userId });
  for (const groupId of yield* query('invites.groupsOf', { inviteId: invite.id })) {
    yield* addMembers(null, groupId, [userId], now);
  }
  yield* recordAudit(null, 'invite_use', userId, { invite: invite.id });
}

// Read before the take, the row may still look live though the take found it used up.
const nonLive = (state: InviteState): InviteState => (state === 'live' ? 'used_up' : state);

export interface InviteListing extends InviteRow {
  state: InviteState;
  groups: InviteGroupRow[];
  used: InviteUseRow[];
}

/** The newest links with their groups and who used them. */
export function* listInvites(now = new Date(), limit = 200): Op<InviteListing[]> {
  const rows = yield* query('invites.list', { limit });
  const groups = yield* query('invites.listGroups', { limit });
  const uses = yield* query('invites.listUses', { limit });
  return rows.map((row) => ({
    ...row,
    state: stateOf(row, now),
    groups: groups.filter((g) => g.inviteId === row.id),
    used: uses.filter((u) => u.inviteId === row.id),
  }));
}
