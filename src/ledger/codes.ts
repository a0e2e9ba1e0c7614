// Redemption codes: random, shown once, stored hashed, single-use, case-insensitive, may expire.
import crypto from 'node:crypto';
import { balanceOf, credit, LedgerError, MAX_AMOUNT, MAX_BALANCE } from './ledger';
import { pageOf, pageWindow, query, type Op, type Store } from '../storage/op';
import type { BatchRow, CodeRow, CodeState } from '../storage/queries/codes';

export type { BatchRow, CodeRow, CodeState } from '../storage/queries/codes';

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

/** The plain-text codes of a new batch: made outside any write, which may be run twice. */
export function generateCodes(count: number): string[] {
  return Array.from({ length: count }, generateCode);
}

/** Inserts new codes (by their hashes) inside the caller's write; the caller ran checkBatch first. */
export function* insertCodes(hashes: string[], batch: CreateCodes, batchId: number | null = null): Op<void> {
  for (const hash of hashes) {
    yield* query('codes.insert', {
      hash, tokens: batch.tokens, expiresAt: batch.expiresAt?.toISOString() ?? null, note: batch.note ?? null,
      createdBy: batch.createdBy ?? null, batchId,
    });
  }
}

/** Creates codes outside any batch and returns them in plain text; only their hashes are stored. */
export async function createCodes(store: Store, batch: CreateCodes): Promise<string[]> {
  checkBatch(batch);
  const codes = generateCodes(batch.count);
  await store.write(insertCodes, codes.map(hashCode), batch, null);
  return codes;
}

/** Redeems a code for the user: claims it with one conditional UPDATE, then credits the tokens. */
export async function redeem(store: Store, userId: number, code: string): Promise<{ tokens: number; balance: number }> {
  const hash = hashCode(String(code ?? ''));
  return store.write(redeemOp, userId, hash, new Date().toISOString());
}

function* redeemOp(userId: number, hash: string, now: string): Op<{ tokens: number; balance: number }> {
  const claimed = yield* query('codes.claim', { userId, now, hash });
  if (!claimed) throw new CodeError(yield* whyNot(hash, now));
  // Past the largest balance the ledger keeps, the code stays unused (the write rolls back).
  if ((yield* balanceOf(userId)) + claimed.tokens > MAX_BALANCE) throw new CodeError('full');
  const balance = yield* credit({ userId, amount: claimed.tokens, kind: 'redeem', codeId: claimed.id });
  return { tokens: claimed.tokens, balance };
}

function* whyNot(hash: string, now: string): Op<CodeError['reason']> {
  const row = yield* query('codes.stateByHash', { hash });
  if (!row) return 'unknown';
  if (row.redeemed_by !== null) return 'used';
  if (row.voided_at !== null) return 'void';
  return row.expires_at !== null && row.expires_at <= now ? 'expired' : 'unknown';
}

// ---- administration: batches, listing and voiding (the admin pages) -------------------------

export const CODE_STATES: CodeState[] = ['unused', 'redeemed', 'expired', 'void'];

/** Voids an unused code; false when it was already redeemed, void or missing. Races redeem safely. */
export function* voidCode(codeId: number, now: string = new Date().toISOString()): Op<boolean> {
  return (yield* query('codes.void', { now, codeId })).changes === 1;
}

/** Voids every code of a batch not yet redeemed or void; returns how many. */
export function* voidBatch(batchId: number, now: string = new Date().toISOString()): Op<number> {
  return (yield* query('codes.voidBatch', { now, batchId })).changes;
}

/** Codes newest first, optionally of one state or batch; `hasMore` when another page follows. */
export function* listCodes(filter: { state?: CodeState; batchId?: number }, page: number, perPage = 50): Op<{ rows: CodeRow[]; hasMore: boolean }> {
  const rows = yield* query('codes.list', {
    now: new Date().toISOString(), state: filter.state ?? null, batchId: filter.batchId ?? null,
    ...pageWindow(page, perPage),
  });
  return pageOf(rows, perPage);
}

/** Batches newest first with how many of their codes are in each state. */
export function* listBatches(page: number, perPage = 20): Op<{ rows: BatchRow[]; hasMore: boolean }> {
  const rows = yield* query('codes.batches', { now: new Date().toISOString(), ...pageWindow(page, perPage) });
  return pageOf(rows, perPage);
}
