// Accounts signed in through an OpenID Connect provider (issue 25): the identity (provider +
// subject) says which account; the first sign-in makes one without a password; the groups a
// configured claim names are mapped to tokenchat groups at every sign-in. An identity is never
// linked by a matching username or email: only by its first sign-in, the admin, or the owner
// signed in (linkIdentity).
import { recordAudit, type Actor } from '../admin/actions';
import { findById, normalizeUsername, UserInputError, type User } from '../accounts/users';
import { addMembers, removeMembers } from '../groups/groups';
import { openAccount } from '../ledger/ledger';
import { query, type Op } from '../storage/op';
import { OidcError, type Claims } from './client';
import type { OidcProviderSettings } from '../oidc-settings';

const text = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
const verified = (claims: Claims) => claims.email_verified === true || claims.email_verified === 'true';

/**
 * The claim's values as strings (an array, or one string, or nothing). A dotted name reaches into
 * an object claim, as Keycloak's realm_access.roles; a name that is itself a claim wins.
 */
export function claimValues(claims: Claims, name: string): string[] {
  const v = name in claims ? claims[name] : name.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), claims);
  const list = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
  return list.filter((x): x is string | number => typeof x === 'string' || typeof x === 'number').map(String);
}

/** The email when the provider vouches for it. */
export function verifiedEmail(claims: Claims): string | undefined {
  const email = text(claims.email);
  return email && verified(claims) && email.length <= 254 && email.includes('@') ? email.toLowerCase() : undefined;
}

/** Refused unless the provider allows any domain or vouches for an email in an allowed one. */
export function checkDomain(p: OidcProviderSettings, claims: Claims): void {
  if (p.emailDomains.length === 0) return;
  const email = verifiedEmail(claims);
  const domain = email?.slice(email.lastIndexOf('@') + 1);
  if (!domain || !p.emailDomains.includes(domain)) throw new OidcError('domain');
}

/** A username from the claims, cut to the allowed characters and length ("user" when none fits). */
export function baseUsername(claims: Claims): string {
  const from = [text(claims.preferred_username)?.split('@')[0], text(claims.email)?.split('@')[0], text(claims.name), text(claims.nickname)];
  for (const candidate of from) {
    const cleaned = [...(candidate ?? '').normalize('NFKC').replace(/\s+/g, '.').replace(/[^\p{L}\p{N}_.-]/gu, '')].slice(0, 28).join('');
    if ([...cleaned].length >= 2) return cleaned;
  }
  return 'user';
}

function* insertUnique(claims: Claims): Op<User> {
  const base = baseUsername(claims);
  const email = verifiedEmail(claims);
  const display = text(claims.name)?.slice(0, 100) ?? null;
  for (let n = 1; n < 1000; n++) {
    const candidate = n === 1 ? base : `${base}-${n}`;
    let name: { username: string; key: string };
    try {
      name = normalizeUsername(candidate);
    } catch (err) {
      if (err instanceof UserInputError) continue;
      throw err;
    }
    const user = yield* query('oidc.insertUser', { ...name, displayName: display, email: email ?? null, emailVerified: email ? 1 : 0 });
    if (user) return user;
  }
  throw new OidcError('token', 'no free username');
}

/**
 * Whether the provider left the groups claim out for being too long and said so in `_claim_names`
 * (Microsoft Entra ID's "groups overage", past about 200 groups): then the claim says nothing about
 * membership, and emptying the person's groups for it would be wrong.
 */
export function overage(claims: Claims, groupsClaim: string): boolean {
  const names = claims._claim_names;
  return typeof names === 'object' && names !== null && Object.hasOwn(names, groupsClaim.split('.')[0]!);
}

/**
 * Sets the user's memberships of the mapped groups to what the claim says; others are left alone,
 * and so are all of them when the provider said the claim was too long to send (overage).
 */
export function* refreshGroups(p: OidcProviderSettings, userId: number, claims: Claims, now = new Date()): Op<void> {
  if (!p.groupsClaim) return;
  const map = yield* query('oidc.mapOf', { provider: p.id });
  if (map.length === 0 || overage(claims, p.groupsClaim)) return;
  const values = new Set(claimValues(claims, p.groupsClaim));
  const wanted = new Set(map.filter((m) => values.has(m.claimValue)).map((m) => m.groupId));
  const current = new Set((yield* query('groups.ofUser', { userId })).map((g) => g.id));
  for (const groupId of new Set(map.map((m) => m.groupId))) {
    if (wanted.has(groupId) && !current.has(groupId)) yield* addMembers(null, groupId, [userId], now, p.label);
    if (!wanted.has(groupId) && current.has(groupId)) yield* removeMembers(null, groupId, [userId], now, p.label);
  }
}

/**
 * A sign-in with verified claims, in one write: the linked account (refused when disabled), or a
 * new one without a password (waiting for an admin when `approval`, as REGISTRATION_MODE=approval
 * makes registrations wait); its mapped groups refreshed.
 */
export function* signInWithClaims(p: OidcProviderSettings, claims: Claims, account: { signupBonus: number; approval: boolean }, now = new Date()): Op<User> {
  checkDomain(p, claims);
  const linked = yield* query('oidc.userOf', { provider: p.id, subject: claims.sub });
  let user: User | undefined;
  if (linked !== undefined) {
    user = yield* findById(linked);
    if (!user) throw new OidcError('token', 'identity without account');
    if (user.disabled) throw new OidcError('disabled');
  } else {
    user = yield* insertUnique(claims);
    if ((yield* query('oidc.link', { provider: p.id, subject: claims.sub, userId: user.id })) === undefined) throw new OidcError('linked_elsewhere');
    yield* openAccount(user.id, account.signupBonus);
    if (account.approval) {
      yield* query('invites.setPending', { userId: user.id });
      user = { ...user, status: 'pending' };
    }
    yield* recordAudit(null, 'oidc_user_create', user.id, { provider: p.id });
  }
  yield* query('oidc.touch', { provider: p.id, subject: claims.sub, now: now.toISOString() });
  yield* refreshGroups(p, user.id, claims, now);
  return user;
}

/** Links an identity to an existing account (its owner signed in, or an admin); refused when the identity has an account. */
export function* linkIdentity(actorId: Actor, p: OidcProviderSettings, userId: number, subject: string): Op<void> {
  const linked = yield* query('oidc.userOf', { provider: p.id, subject });
  if (linked === userId) return;
  if (linked !== undefined) throw new OidcError('linked_elsewhere');
  yield* query('oidc.unlink', { provider: p.id, userId });
  if ((yield* query('oidc.link', { provider: p.id, subject, userId })) === undefined) throw new OidcError('linked_elsewhere');
  yield* recordAudit(actorId, 'oidc_link', userId, { provider: p.id, subject });
}

/** Unlinks a user's identity at a provider; refused (OidcError last_way) when it is the only way the account signs in. */
export function* unlinkIdentity(actorId: Actor, provider: string, userId: number): Op<void> {
  if (Number(yield* query('oidc.signInWays', { userId })) <= 1) throw new OidcError('last_way');
  const { changes } = yield* query('oidc.unlink', { provider, userId });
  if (changes > 0) yield* recordAudit(actorId, 'oidc_unlink', userId, { provider });
}
