// Redemption codes: random, shown once, stored hashed, single-use, case-insensitive, may expire.
import crypto from 'node:crypto';
import type SqliteDatabase from 'better-sqlite3';
import { creditInTx, LedgerError, MAX_AMOUNT } from './ledger';

type Raw = SqliteDatabase.Database;
// Crockford's base32: no I, L, O or U, so codes survive being read aloud or retyped.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const GROUPS = 4;
const GROUP_LEN = 5; // 20 characters = 100 bits of randomness

export class CodeError extends Error {
  constructor(readonly reason: 'unknown' | 'used' | 'expired' | 'void') {
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

/** Creates a batch and returns the plain codes; only their hashes are stored. */
export async function createCodes(raw: Raw, batch: CreateCodes): Promise<string[]> {
  if (!Number.isSafeInteger(batch.tokens) || batch.tokens < 1 || batch.tokens > MAX_AMOUNT) {
    throw new LedgerError(`tokens must be a whole number from 1 to ${MAX_AMOUNT}`);
  }
  if (!Number.isSafeInteger(batch.count) || batch.count < 1 || batch.count > 10_000) {
    throw new LedgerError('count must be a whole number from 1 to 10000');
  }
  if (batch.expiresAt && !(batch.expiresAt.getTime() > Date.now())) throw new LedgerError('expiry must be a date in the future');
  const insert = raw.prepare('INSERT INTO redemption_codes (code_hash, tokens, expires_at, note, created_by) VALUES (?, ?, ?, ?, ?)');
  const codes = Array.from({ length: batch.count }, generateCode);
  raw
    .transaction(() => {
      for (const code of codes) {
        insert.run(hashCode(code), batch.tokens, batch.expiresAt?.toISOString() ?? null, batch.note ?? null, batch.createdBy ?? null);
      }
    })
    .immediate();
  return codes;
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
