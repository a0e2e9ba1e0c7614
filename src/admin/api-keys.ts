// Admin API keys: an organisation's scripts call /admin/api/ with one (`tca-` and 32 base62
// characters), never the pages. Made by an admin on /admin/api-keys, shown once, kept as a SHA-256
// like a member's key (accounts/api-keys.ts), scoped (read, or read and write), always expiring,
// revocable. A key acts with its maker's rights, checked at every request (a demoted or disabled
// maker's keys stop working); each write it makes is audited as its maker's, with the key named on
// the audit rows (runWithKey). Owns the admin_api_keys table.
import { generateKey as generateMemberKey, hashKey } from '../accounts/api-keys';
import { query, type Op } from '../storage/op';
import { asAdmin, recordAudit } from './actions';
import type { AdminKeyListRow, AdminKeyScope } from '../storage/queries/admin-keys';

export type { AdminKeyListRow, AdminKeyScope } from '../storage/queries/admin-keys';

export const ADMIN_KEY_SHAPE = /^tca-[0-9A-Za-z]{32}$/;
export const ADMIN_KEY_DAYS_MAX = 366;
export const ADMIN_KEY_NAME_MAX = 60;

/** A key the API accepted: who it acts as and what it may do. */
export interface AdminKey {
  id: number;
  name: string;
  scope: AdminKeyScope;
  /** The admin who made it: the actor of everything it does. */
  actorId: number;
}

export type AdminKeyCheck = { ok: true; key: AdminKey } | { ok: false; reason: 'malformed' | 'unknown' | 'revoked' | 'expired' | 'not_admin' };

export interface NewAdminKey {
  name: string;
  scope: AdminKeyScope;
  days: number;
}

export class AdminKeyError extends Error {
  constructor(readonly code: 'name' | 'scope' | 'days' | 'no_key') {
    super(code);
  }
}

/** A new key in full: a member key's 32 random characters under the admin prefix. */
export const generateAdminKey = (): string => `tca-${generateMemberKey().slice(3)}`;

/** The form's values checked; throws AdminKeyError naming the field. */
export function checkNewKey(input: { name: unknown; scope: unknown; days: unknown }): NewAdminKey {
  const name = typeof input.name === 'string' ? input.name.normalize('NFKC').trim() : '';
  if (name.length < 1 || name.length > ADMIN_KEY_NAME_MAX) throw new AdminKeyError('name');
  if (input.scope !== 'read' && input.scope !== 'write') throw new AdminKeyError('scope');
  const days = typeof input.days === 'number' ? input.days : typeof input.days === 'string' && /^\d{1,4}$/.test(input.days.trim()) ? Number(input.days.trim()) : Number.NaN;
  if (!Number.isInteger(days) || days < 1 || days > ADMIN_KEY_DAYS_MAX) throw new AdminKeyError('days');
  return { name, scope: input.scope, days };
}

/** Makes a key in a write with its audit row; `key` is drawn before (the write may run twice). */
export function* createAdminKey(actorId: number, input: NewAdminKey, key: string, now: Date): Op<number> {
  yield* asAdmin(actorId);
  const expiresAt = new Date(now.getTime() + input.days * 86_400_000).toISOString();
  const id = yield* query('adminKeys.insert', { createdBy: actorId, name: input.name, hash: hashKey(key), prefix: key.slice(0, 8), last4: key.slice(-4), scope: input.scope, expiresAt });
  yield* recordAudit(actorId, 'admin_key_create', null, { key: id, name: input.name, scope: input.scope, expiresAt });
  return id;
}

export function* revokeAdminKey(actorId: number, id: number, now: Date): Op<void> {
  yield* asAdmin(actorId);
  if ((yield* query('adminKeys.revoke', { id, now: now.toISOString() })).changes === 0) throw new AdminKeyError('no_key');
  yield* recordAudit(actorId, 'admin_key_revoke', null, { key: id });
}

export function* listAdminKeys(): Op<AdminKeyListRow[]> {
  return yield* query('adminKeys.list', {});
}

/**
 * Whether a presented key may be used now, counting the request as one use when it may (a write:
 * reads are counted on the key, not audited one by one). Read at every request, so a revoke, an
 * expiry or its maker losing the admin role takes effect at once on every process.
 */
export function* useAdminKey(presented: string, now: Date): Op<AdminKeyCheck> {
  if (!ADMIN_KEY_SHAPE.test(presented)) return { ok: false, reason: 'malformed' };
  const row = yield* query('adminKeys.byHash', { hash: hashKey(presented) });
  if (!row) return { ok: false, reason: 'unknown' };
  if (row.revokedAt !== null) return { ok: false, reason: 'revoked' };
  if (row.expiresAt <= now.toISOString()) return { ok: false, reason: 'expired' };
  if ((yield* query('admin.isEnabledAdmin', { actorId: row.createdBy })) === undefined) return { ok: false, reason: 'not_admin' };
  yield* query('adminKeys.touch', { id: row.id, now: now.toISOString() });
  return { ok: true, key: { id: row.id, name: row.name, scope: row.scope, actorId: row.createdBy } };
}

/**
 * Runs an admin operation (the one the pages run, with the key's maker as actor) and names the key
 * on every audit row it wrote, in the same transaction. The roles lock first: it is the lock every
 * admin operation takes (asAdmin), so on PostgreSQL no other admin's rows come between.
 */
export function withKey<A extends unknown[], T>(keyId: number, op: (...args: A) => Op<T>): (...args: A) => Op<T> {
  return function* (...args: A): Op<T> {
    yield* query('accounts.lockRoles', {});
    const after = yield* query('adminKeys.lastAudit', {});
    const result = yield* op(...args);
    yield* query('adminKeys.tagAudit', { keyId, after });
    return result;
  };
}
