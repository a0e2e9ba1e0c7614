// What administrators do to accounts and codes, each change one write operation (storage/op.ts)
// together with its admin_audit row (this module owns that table): the store runs it in one
// transaction that takes the write lock first, so the "never the last admin" rules are checked
// and applied atomically. Run them with `store.write(grantTokens, ...)`.
import { checkBatch, generateCodes, hashCode, insertCodes, voidBatch, voidCode, type CreateCodes } from '../ledger/codes';
import { balanceOf, credit, MAX_BALANCE } from '../ledger/ledger';
import { query, type Op, type Store } from '../storage/op';
import { revokeKey } from '../accounts/api-keys';
import type { AuditAction } from '../storage/queries/admin';

export type { AuditAction } from '../storage/queries/admin';

/** Why an admin action was refused; `code` is the message key suffix (admin.error.<code>). */
export class AdminError extends Error {
  constructor(
    readonly code: 'no_user' | 'below_zero' | 'above_max' | 'last_admin' | 'self' | 'unchanged' | 'not_voidable' | 'no_key',
    readonly vars: Record<string, number | string> = {},
  ) {
    super(code);
  }
}

/** An admin action by someone who is no longer an enabled admin: to them it does not exist (the routes answer 404). */
export class NotAnAdmin extends Error {}

/** Who does an admin action: an admin's user id, or null for the operator at the command line. */
export type Actor = number | null;

/** Appends an audit row; yield it inside the write operation that makes the change. */
export function* recordAudit(actorId: Actor, action: AuditAction, targetUserId: number | null, detail: object = {}): Op<void> {
  yield* query('admin.audit', { actorId, action, targetUserId, detail: JSON.stringify(detail) });
}

/**
 * Every admin action first checks, inside its write, that the actor is still an enabled admin:
 * another admin may have demoted or disabled them while this request waited (for argon2, say).
 * To a former admin the action does not exist, as the routes answer. The command line (null)
 * holds the database itself; the rules about the target (never the last admin) still apply.
 */
export function* asAdmin(actorId: Actor): Op<void> {
  yield* query('accounts.lockRoles', {});
  if (actorId === null) return;
  const actor = yield* query('admin.isEnabledAdmin', { actorId });
  if (actor === undefined) throw new NotAnAdmin();
}

function* requireUser(userId: number): Op<{ role: string; disabled: number; session_epoch: number }> {
  const row = yield* query('admin.userState', { userId });
  if (!row) throw new AdminError('no_user');
  return row;
}

/** Enabled admins other than `userId`: demoting or disabling needs at least one to remain. */
function* otherAdmins(userId: number): Op<number> {
  return yield* query('admin.otherAdmins', { userId });
}

/** Adds (amount > 0) or deducts (amount < 0) tokens with a note; never below zero. A write operation. */
export function* grantTokens(actorId: Actor, userId: number, amount: number, note: string | undefined): Op<number> {
  yield* asAdmin(actorId);
  yield* requireUser(userId);
  const balance = yield* balanceOf(userId);
  if (balance + amount < 0) throw new AdminError('below_zero', { balance });
  if (balance + amount > MAX_BALANCE) throw new AdminError('above_max', { balance });
  const kind = amount > 0 ? 'grant' : 'adjust';
  const after = yield* credit({ userId, amount, kind, actorId, note });
  yield* recordAudit(actorId, amount > 0 ? 'grant' : 'deduct', userId, { amount, note: note ?? null, balance: after });
  return after;
}

/**
 * Disables an account and ends all its sessions at once (the session epoch moves on, and every
 * request checks it), or enables it again. An admin cannot disable themselves or the last admin.
 * A write operation.
 */
export function* setDisabled(actorId: Actor, userId: number, disabled: boolean): Op<void> {
  yield* asAdmin(actorId);
  const user = yield* requireUser(userId);
  if (Boolean(user.disabled) === disabled) throw new AdminError('unchanged');
  if (disabled && userId === actorId) throw new AdminError('self');
  if (disabled && user.role === 'admin' && (yield* otherAdmins(userId)) === 0) throw new AdminError('last_admin');
  yield* query(disabled ? 'admin.disable' : 'admin.enable', { userId });
  yield* recordAudit(actorId, disabled ? 'disable' : 'enable', userId);
}

/** Promotes to admin or demotes to member; the last enabled admin is never demoted. A write operation. */
export function* setRole(actorId: number, userId: number, role: 'user' | 'admin'): Op<void> {
  yield* asAdmin(actorId);
  const user = yield* requireUser(userId);
  if (user.role === role) throw new AdminError('unchanged');
  if (role === 'user' && (yield* otherAdmins(userId)) === 0) throw new AdminError('last_admin');
  yield* query('admin.setRole', { userId, role });
  yield* recordAudit(actorId, role === 'admin' ? 'promote' : 'demote', userId);
}

/**
 * Replaces a password with `hash` (already argon2id) and ends the user's sessions; `mustChange`
 * makes them choose another at their next sign-in. Returns the new
 * session epoch, so an admin resetting their own password can stay signed in. A write operation.
 */
export function* resetPassword(actorId: Actor, userId: number, hash: string, mustChange = false): Op<number> {
  yield* asAdmin(actorId);
  const user = yield* requireUser(userId);
  yield* query('admin.setPassword', { userId, hash });
  // Ticked: the next sign-in goes to the change-password page first (http/password-gate.ts).
  yield* query('account.setMustChange', { id: userId, mustChange: mustChange ? 1 : 0 });
  yield* recordAudit(actorId, 'password_reset', userId, mustChange ? { must_change: true } : {});
  return user.session_epoch + 1;
}

/** The audit row for a new account; createUser runs it (as `also`) inside the write that creates it. */
export function* recordUserCreated(actorId: number, userId: number, role: string): Op<void> {
  yield* asAdmin(actorId);
  yield* recordAudit(actorId, 'user_create', userId, { role });
}

function* writeBatch(actorId: number, batch: Omit<CreateCodes, 'createdBy'>, hashes: string[]): Op<number> {
  yield* asAdmin(actorId);
  const batchId = yield* query('admin.newBatch', {
    tokens: batch.tokens, count: batch.count, expiresAt: batch.expiresAt?.toISOString() ?? null, note: batch.note ?? null, createdBy: actorId,
  });
  yield* insertCodes(hashes, { ...batch, createdBy: actorId }, batchId);
  yield* recordAudit(actorId, 'codes_create', null, { batch: batchId, tokens: batch.tokens, count: batch.count, note: batch.note ?? null });
  return batchId;
}

/** How long the key of a batch's form is remembered: the page refuses a form older than FORM_DAYS, a day less. */
export const BATCH_FORM_DAYS = 8;

/**
 * Creates a batch of codes, its row and its audit row in one write, and returns the codes in plain
 * text: the only time they exist unhashed. The codes are drawn before the write (which may run twice).
 * With `formKey` (the page's one-time form), the same key sent again makes nothing (undefined): it
 * is counted in the throttle table in the same write, so two sends at once, on any process, make one.
 */
export async function createBatch(store: Store, actorId: number, batch: Omit<CreateCodes, 'createdBy'>): Promise<{ batchId: number; codes: string[] }>;
export async function createBatch(store: Store, actorId: number, batch: Omit<CreateCodes, 'createdBy'>, formKey: string | null): Promise<{ batchId: number; codes: string[] } | undefined>;
export async function createBatch(store: Store, actorId: number, batch: Omit<CreateCodes, 'createdBy'>, formKey: string | null = null) {
  checkBatch(batch);
  const codes = generateCodes(batch.count);
  const now = new Date();
  const batchId = await store.write(function* () {
    if (formKey) {
      const resetAt = new Date(now.getTime() + BATCH_FORM_DAYS * 86_400_000).toISOString();
      if ((yield* query('limits.hit', { key: `codes-form:${actorId}:${formKey}`, now: now.toISOString(), resetAt })).hits > 1) return undefined;
    }
    return yield* writeBatch(actorId, batch, codes.map(hashCode));
  });
  return batchId === undefined ? undefined : { batchId, codes };
}

/** Voids one unused code. A write operation. */
export function* voidOneCode(actorId: number, codeId: number): Op<void> {
  yield* asAdmin(actorId);
  if (!(yield* voidCode(codeId))) throw new AdminError('not_voidable');
  yield* recordAudit(actorId, 'code_void', null, { code: codeId });
}

/** Voids the unused codes of a batch; returns how many. A write operation. */
export function* voidUnusedInBatch(actorId: number, batchId: number): Op<number> {
  yield* asAdmin(actorId);
  const n = yield* voidBatch(batchId);
  if (n === 0) throw new AdminError('not_voidable');
  yield* recordAudit(actorId, 'batch_void', null, { batch: batchId, count: n });
  return n;
}

/** Revokes one of the user's API keys (accounts/api-keys.ts), with its audit row. A write operation. */
export function* revokeUserKey(actorId: Actor, userId: number, keyId: number, now: string): Op<void> {
  yield* asAdmin(actorId);
  yield* requireUser(userId);
  if (!(yield* revokeKey(keyId, userId, now))) throw new AdminError('no_key');
  yield* recordAudit(actorId, 'key_revoke', userId, { key: keyId });
}
