// What administrators do to accounts and codes, each change written in one BEGIN IMMEDIATE
// transaction together with its admin_audit row (this module owns that table). Like ledger.ts it
// uses the synchronous SQLite handle: a kysely transaction on the same connection could interleave
// with the ledger's, and the "never the last admin" rules must be checked and applied atomically.
import type SqliteDatabase from 'better-sqlite3';
import { HttpError } from './http-error';
import { checkBatch, insertCodesInTx, voidBatch, voidCode, type CreateCodes } from './codes';
import { balanceOf, creditInTx, MAX_BALANCE } from './ledger';

type Raw = SqliteDatabase.Database;

export type AuditAction =
  | 'user_create' | 'grant' | 'deduct' | 'disable' | 'enable' | 'password_reset'
  | 'promote' | 'demote' | 'codes_create' | 'code_void' | 'batch_void';

/** Why an admin action was refused; `code` is the message key suffix (admin.error.<code>). */
export class AdminError extends Error {
  constructor(
    readonly code: 'no_user' | 'below_zero' | 'above_max' | 'last_admin' | 'self' | 'unchanged' | 'not_voidable',
    readonly vars: Record<string, number | string> = {},
  ) {
    super(code);
  }
}

/** Appends an audit row; call inside the transaction that makes the change. */
export function recordAudit(raw: Raw, actorId: number, action: AuditAction, targetUserId: number | null, detail: object = {}): void {
  raw
    .prepare('INSERT INTO admin_audit (actor_id, action, target_user_id, detail) VALUES (?, ?, ?, ?)')
    .run(actorId, action, targetUserId, JSON.stringify(detail));
}

/**
 * Runs an admin action in one write transaction, after checking inside it that the actor is still
 * an enabled admin: another admin may have demoted or disabled them while this request waited
 * (for argon2, say). To a former admin the action does not exist, as the routes answer.
 */
function inTx<T>(raw: Raw, actorId: number, fn: () => T): T {
  return raw
    .transaction(() => {
      const actor = raw.prepare(`SELECT 1 FROM users WHERE id = ? AND role = 'admin' AND disabled = 0`).get(actorId);
      if (!actor) throw new HttpError(404);
      return fn();
    })
    .immediate();
}

function requireUser(raw: Raw, userId: number): { role: string; disabled: number; session_epoch: number } {
  const row = raw.prepare('SELECT role, disabled, session_epoch FROM users WHERE id = ?').get(userId) as
    | { role: string; disabled: number; session_epoch: number }
    | undefined;
  if (!row) throw new AdminError('no_user');
  return row;
}

/** Enabled admins other than `userId`: demoting or disabling needs at least one to remain. */
function otherAdmins(raw: Raw, userId: number): number {
  return raw.prepare(`SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id <> ?`).pluck().get(userId) as number;
}

/** Adds (amount > 0) or deducts (amount < 0) tokens with a note; never below zero. */
export function grantTokens(raw: Raw, actorId: number, userId: number, amount: number, note: string | undefined): number {
  return inTx(raw, actorId, () => {
    requireUser(raw, userId);
    const balance = balanceOf(raw, userId);
    if (balance + amount < 0) throw new AdminError('below_zero', { balance });
    if (balance + amount > MAX_BALANCE) throw new AdminError('above_max', { balance });
    const kind = amount > 0 ? 'grant' : 'adjust';
    const after = creditInTx(raw, { userId, amount, kind, actorId, note });
    recordAudit(raw, actorId, amount > 0 ? 'grant' : 'deduct', userId, { amount, note: note ?? null, balance: after });
    return after;
  });
}

/**
 * Disables an account and ends all its sessions at once (the session epoch moves on, and every
 * request checks it), or enables it again. An admin cannot disable themselves or the last admin.
 */
export function setDisabled(raw: Raw, actorId: number, userId: number, disabled: boolean): void {
  inTx(raw, actorId, () => {
    const user = requireUser(raw, userId);
    if (Boolean(user.disabled) === disabled) throw new AdminError('unchanged');
    if (disabled && userId === actorId) throw new AdminError('self');
    if (disabled && user.role === 'admin' && otherAdmins(raw, userId) === 0) throw new AdminError('last_admin');
    const sql = disabled
      ? 'UPDATE users SET disabled = 1, session_epoch = session_epoch + 1 WHERE id = ?'
      : 'UPDATE users SET disabled = 0 WHERE id = ?';
    raw.prepare(sql).run(userId);
    recordAudit(raw, actorId, disabled ? 'disable' : 'enable', userId);
  });
}

/** Promotes to admin or demotes to member; the last enabled admin is never demoted. */
export function setRole(raw: Raw, actorId: number, userId: number, role: 'user' | 'admin'): void {
  inTx(raw, actorId, () => {
    const user = requireUser(raw, userId);
    if (user.role === role) throw new AdminError('unchanged');
    if (role === 'user' && otherAdmins(raw, userId) === 0) throw new AdminError('last_admin');
    raw.prepare('UPDATE users SET role = ? WHERE id = ?').run(role, userId);
    recordAudit(raw, actorId, role === 'admin' ? 'promote' : 'demote', userId);
  });
}

/**
 * Replaces a password with `hash` (already argon2id) and ends the user's sessions. Returns the new
 * session epoch, so an admin resetting their own password can stay signed in.
 */
export function resetPassword(raw: Raw, actorId: number, userId: number, hash: string): number {
  return inTx(raw, actorId, () => {
    const user = requireUser(raw, userId);
    raw.prepare('UPDATE users SET password_hash = ?, session_epoch = session_epoch + 1 WHERE id = ?').run(hash, userId);
    recordAudit(raw, actorId, 'password_reset', userId);
    return user.session_epoch + 1;
  });
}

/** The audit row for a new account; createUser runs it inside the transaction that creates it. */
export function recordUserCreated(raw: Raw, actorId: number, userId: number, role: string): void {
  inTx(raw, actorId, () => recordAudit(raw, actorId, 'user_create', userId, { role }));
}

/**
 * Creates a batch of codes, its row and its audit row in one transaction, and returns the codes
 * in plain text: the only time they exist unhashed.
 */
export async function createBatch(raw: Raw, actorId: number, batch: Omit<CreateCodes, 'createdBy'>): Promise<{ batchId: number; codes: string[] }> {
  checkBatch(batch);
  return inTx(raw, actorId, () => {
    const batchId = raw
      .prepare('INSERT INTO code_batches (tokens, count, expires_at, note, created_by) VALUES (?, ?, ?, ?, ?) RETURNING id')
      .pluck()
      .get(batch.tokens, batch.count, batch.expiresAt?.toISOString() ?? null, batch.note ?? null, actorId) as number;
    const codes = insertCodesInTx(raw, { ...batch, createdBy: actorId }, batchId);
    recordAudit(raw, actorId, 'codes_create', null, { batch: batchId, tokens: batch.tokens, count: batch.count, note: batch.note ?? null });
    return { batchId, codes };
  });
}

export function voidOneCode(raw: Raw, actorId: number, codeId: number): void {
  inTx(raw, actorId, () => {
    if (!voidCode(raw, codeId)) throw new AdminError('not_voidable');
    recordAudit(raw, actorId, 'code_void', null, { code: codeId });
  });
}

export function voidUnusedInBatch(raw: Raw, actorId: number, batchId: number): number {
  return inTx(raw, actorId, () => {
    const n = voidBatch(raw, batchId);
    if (n === 0) throw new AdminError('not_voidable');
    recordAudit(raw, actorId, 'batch_void', null, { batch: batchId, count: n });
    return n;
  });
}
