// Redemption codes: random, shown once, stored hashed, single-use, case-insensitive, may expire.
import crypto from 'node:crypto';
import type SqliteDatabase from 'better-sqlite3';
import { pageOf, pageWindow } from './db';
import { balanceOf, creditInTx, LedgerError, MAX_AMOUNT, MAX_BALANCE } from './ledger';

type Raw = SqliteDatabase.Database;
// Crockford's base32: no I, L, O or U, so codes survive being read aloud or retyped.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const GROUPS = 4;
const GROUP_LEN = 5; // 20 characters = 100 bits of randomness

export class CodeError extends Error {
  constructor(readonly reason: 'unknown' | 'used' | 'expired' | 'void' | 'full') {
    super(`code is ${reason}`);
  }
}

export function generateCode(): string {
  const bytes = crypto.randomBytes(GROUPS * GROUP_LEN);
  const chars = [...bytes].map((b) => ALPHABET[b & 31]);
  const groups = Array.from({ length: GROUPS }, (_, i) => chars.slice(i * GROUP_LEN, (i + 1) * GROUP_LEN).join(''));
  return `TC-${groups.join('-')}`;
}

/** Upper-cases, drops spaces, dashes and the TC- prefix, and maps look-alikes (O->0, I/L->1). */
export function normalizeCode(input: string): string {
  const plain = input.toUpperCase().replace(/[\s-]/g, '').replace(/^TC/, '');
  return plain.replace(/O/g, '0').replace(/[IL]/g, '1');
}

export function hashCode(input: string): string {
  return crypto.createHash('sha256').update(normalizeCode(input)).digest('hex');
}

export interface CreateCodes {
  tokens: number;
  count: number;
  expiresAt?: Date;
  note?: string;
  createdBy?: number;
}

/** Refuses a batch the ledger would not accept, before anything is written. */
export function checkBatch(batch: CreateCodes): void {
  if (!Number.isSafeInteger(batch.tokens) || batch.tokens < 1 || batch.tokens > MAX_AMOUNT) {
    throw new LedgerError(`tokens must be a whole number from 1 to ${MAX_AMOUNT}`);
  }
  if (!Number.isSafeInteger(batch.count) || batch.count < 1 || batch.count > 10_000) {
    throw new LedgerError('count must be a whole number from 1 to 10000');
  }
  if (batch.expiresAt && !(batch.expiresAt.getTime() > Date.now())) throw new LedgerError('expiry must be a date in the future');
}

/** Inserts new codes inside the caller's transaction and returns them in plain text; the caller ran checkBatch first. */
export function insertCodesInTx(raw: Raw, batch: CreateCodes, batchId: number | null = null): string[] {
  const insert = raw.prepare('INSERT INTO redemption_codes (code_hash, tokens, expires_at, note, created_by, batch_id) VALUES (?, ?, ?, ?, ?, ?)');
  const codes = Array.from({ length: batch.count }, generateCode);
  for (const code of codes) {
    insert.run(hashCode(code), batch.tokens, batch.expiresAt?.toISOString() ?? null, batch.note ?? null, batch.createdBy ?? null, batchId);
  }
  return codes;
}

/** Creates codes outside any batch and returns them in plain text; only their hashes are stored. */
export async function createCodes(raw: Raw, batch: CreateCodes): Promise<string[]> {
  checkBatch(batch);
  return raw.transaction(() => insertCodesInTx(raw, batch)).immediate();
}

/** Redeems a code for the user: claims it with one conditional UPDATE, then credits the tokens. */
export async function redeem(raw: Raw, userId: number, code: string): Promise<{ tokens: number; balance: number }> {
  const hash = hashCode(String(code ?? ''));
  return raw
    .transaction(() => {
      const now = new Date().toISOString();
      const claimed = raw
        .prepare(
          `UPDATE redemption_codes SET redeemed_by = ?, redeemed_at = ?
           WHERE code_hash = ? AND redeemed_by IS NULL AND voided_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
           RETURNING id, tokens`,
        )
        .get(userId, now, hash, now) as { id: number; tokens: number } | undefined;
      if (!claimed) throw new CodeError(whyNot(raw, hash, now));
      // Past the largest balance the ledger keeps, the code stays unused (the transaction rolls back).
      if (balanceOf(raw, userId) + claimed.tokens > MAX_BALANCE) throw new CodeError('full');
      const balance = creditInTx(raw, { userId, amount: claimed.tokens, kind: 'redeem', codeId: claimed.id });
      return { tokens: claimed.tokens, balance };
    })
    .immediate();
}

function whyNot(raw: Raw, hash: string, now: string): CodeError['reason'] {
  const row = raw.prepare('SELECT redeemed_by, voided_at, expires_at FROM redemption_codes WHERE code_hash = ?').get(hash) as
    | { redeemed_by: number | null; voided_at: string | null; expires_at: string | null }
    | undefined;
  if (!row) return 'unknown';
  if (row.redeemed_by !== null) return 'used';
  if (row.voided_at !== null) return 'void';
  return row.expires_at !== null && row.expires_at <= now ? 'expired' : 'unknown';
}

// ---- administration: batches, listing and voiding (the admin pages) -------------------------

export type CodeState = 'unused' | 'redeemed' | 'expired' | 'void';
export const CODE_STATES: CodeState[] = ['unused', 'redeemed', 'expired', 'void'];

const STATE_SQL = `CASE WHEN c.redeemed_by IS NOT NULL THEN 'redeemed' WHEN c.voided_at IS NOT NULL THEN 'void'
  WHEN c.expires_at IS NOT NULL AND c.expires_at <= @now THEN 'expired' ELSE 'unused' END`;

/** Voids an unused code; false when it was already redeemed, void or missing. Races redeem safely. */
export function voidCode(raw: Raw, codeId: number): boolean {
  const now = new Date().toISOString();
  return (
    raw.prepare('UPDATE redemption_codes SET voided_at = ? WHERE id = ? AND redeemed_by IS NULL AND voided_at IS NULL').run(now, codeId)
      .changes === 1
  );
}

/** Voids every code of a batch not yet redeemed or void; returns how many. */
export function voidBatch(raw: Raw, batchId: number): number {
  const now = new Date().toISOString();
  return raw
    .prepare('UPDATE redemption_codes SET voided_at = ? WHERE batch_id = ? AND redeemed_by IS NULL AND voided_at IS NULL')
    .run(now, batchId).changes;
}

export interface CodeRow {
  id: number;
  batchId: number | null;
  tokens: number;
  note: string | null;
  createdAt: string;
  expiresAt: string | null;
  state: CodeState;
  redeemedBy: string | null;
  redeemedAt: string | null;
}

/** Codes newest first, optionally of one state or batch; `hasMore` when another page follows. */
export function listCodes(raw: Raw, filter: { state?: CodeState; batchId?: number }, page: number, perPage = 50) {
  const rows = raw
    .prepare(
      `SELECT * FROM (SELECT c.id, c.batch_id AS batchId, c.tokens, c.note, c.created_at AS createdAt, c.expires_at AS expiresAt,
         ${STATE_SQL} AS state, u.username AS redeemedBy, c.redeemed_at AS redeemedAt
       FROM redemption_codes c LEFT JOIN users u ON u.id = c.redeemed_by
       WHERE (@batchId IS NULL OR c.batch_id = @batchId))
       WHERE (@state IS NULL OR state = @state) ORDER BY id DESC LIMIT @limit OFFSET @offset`,
    )
    .all({
      now: new Date().toISOString(), state: filter.state ?? null, batchId: filter.batchId ?? null,
      ...pageWindow(page, perPage),
    }) as CodeRow[];
  return pageOf(rows, perPage);
}

export interface BatchRow {
  id: number;
  tokens: number;
  count: number;
  note: string | null;
  expiresAt: string | null;
  createdAt: string;
  createdBy: string;
  unused: number;
  redeemed: number;
  expired: number;
  void: number;
}

/** Batches newest first with how many of their codes are in each state. */
export function listBatches(raw: Raw, page: number, perPage = 20) {
  const rows = raw
    .prepare(
      `SELECT b.id, b.tokens, b.count, b.note, b.expires_at AS expiresAt, b.created_at AS createdAt, u.username AS createdBy,
         sum(s.state = 'unused') AS unused, sum(s.state = 'redeemed') AS redeemed,
         sum(s.state = 'expired') AS expired, sum(s.state = 'void') AS void
       FROM code_batches b JOIN users u ON u.id = b.created_by
       LEFT JOIN (SELECT c.batch_id, ${STATE_SQL} AS state FROM redemption_codes c WHERE c.batch_id IS NOT NULL) s ON s.batch_id = b.id
       GROUP BY b.id ORDER BY b.id DESC LIMIT @limit OFFSET @offset`,
    )
    .all({ now: new Date().toISOString(), ...pageWindow(page, perPage) }) as BatchRow[];
  return pageOf(rows, perPage);
}
