// Personal API keys: a user's own tools (scripts, editors, agents) call /v1 with one and spend from
// the same balance as the chat page. A key is `tc-` and 32 base62 characters (190 bits), shown once
// when made and kept only as its SHA-256 (a key this random needs no slow hash, like a redemption
// code), with its prefix and last four characters to tell keys apart. A key works for /v1 only; it
// never signs in to the pages. Owns the api_keys table.
import crypto from 'node:crypto';
import { query, type Op } from '../storage/op';
import type { KeyListRow, KeyRow } from '../storage/queries/keys';
import type { KeyLimits } from '../ledger/spend-limits';

export type { KeyListRow } from '../storage/queries/keys';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const KEY_CHARS = 32;
export const KEY_SHAPE = /^tc-[0-9A-Za-z]{32}$/;
/** How often a key's "last used" is written at most: not one write per call. */
export const TOUCH_EVERY_MS = 60_000;

export interface NewKey {
  name: string;
  /** Model ids the key may use; null: every model the server offers. */
  models: string[] | null;
  perDay: number | null;
  total: number | null;
  /** Requests and tokens per minute, in every process together; null: no limit. */
  rpm?: number | null;
  tpm?: number | null;
  expiresAt: Date | null;
}

/** A key as /v1 sees it once it is accepted. */
export interface ApiKey extends KeyLimits {
  userId: number;
  name: string;
  models: string[] | null;
  rpm: number | null;
  tpm: number | null;
}

export type RateVerdict = { ok: true } | { ok: false; what: 'requests' | 'tokens'; retryAfterSeconds: number };

export type KeyCheck = { ok: true; key: ApiKey } | { ok: false; reason: 'malformed' | 'unknown' | 'revoked' | 'expired' | 'disabled' };

export function generateKey(): string {
  // Rejection sampling keeps every character uniformly likely (256 is not a multiple of 62).
  let key = 'tc-';
  while (key.length < 3 + KEY_CHARS) {
    for (const b of crypto.randomBytes(KEY_CHARS)) if (b < 248 && key.length < 3 + KEY_CHARS) key += ALPHABET[b % 62];
  }
  return key;
}

export const hashKey = (key: string): string => crypto.createHash('sha256').update(key).digest('hex');

/** Makes a key for the user inside a write; answers the key itself, the only time it exists in full. */
export function* createKey(userId: number, input: NewKey, key: string): Op<{ id: number; key: string }> {
  return (yield* createKeyFromForm(userId, input, key, null))!; // no form: nothing to repeat
}

/** As createKey, from the keys page's form `formId`: the same form sent again (a reload) makes nothing (undefined). */
export function* createKeyFromForm(userId: number, input: NewKey, key: string, formId: string | null): Op<{ id: number; key: string } | undefined> {
  const id = yield* query('keys.insert', {
    userId, name: input.name, hash: hashKey(key), prefix: key.slice(0, 7), last4: key.slice(-4),
    models: input.models && JSON.stringify(input.models), perDay: input.perDay, total: input.total,
    rpm: input.rpm ?? null, tpm: input.tpm ?? null, expiresAt: input.expiresAt?.toISOString() ?? null, formId,
  });
  return id === undefined ? undefined : { id, key };
}

export function* keysOf(userId: number): Op<KeyListRow[]> {
  return yield* query('keys.ofUser', { userId });
}

/** Revokes the key if it is the user's (userId null: anyone's, for an admin); false when there was nothing to revoke. */
export function* revokeKey(id: number, userId: number | null, now: string): Op<boolean> {
  return (yield* query('keys.revoke', { id, userId, now })).changes > 0;
}

/**
 * Whether a presented key may be used now. Read on every call, so a revoke, an expiry or the
 * owner being disabled takes effect at the next call on every server process.
 */
export function* checkKey(presented: string, now: Date): Op<KeyCheck> {
  if (!KEY_SHAPE.test(presented)) return { ok: false, reason: 'malformed' };
  const row: KeyRow | undefined = yield* query('keys.byHash', { hash: hashKey(presented) });
  if (!row) return { ok: false, reason: 'unknown' };
  if (row.revokedAt !== null) return { ok: false, reason: 'revoked' };
  if (row.expiresAt !== null && row.expiresAt <= now.toISOString()) return { ok: false, reason: 'expired' };
  if (row.userDisabled) return { ok: false, reason: 'disabled' };
  const models = row.models === null ? null : (JSON.parse(row.models) as string[]);
  return { ok: true, key: { id: row.id, userId: row.userId, name: row.name, models, perDay: row.perDay, total: row.total, rpm: row.rpm, tpm: row.tpm } };
}

/**
 * The key's requests and tokens per minute, counted in the database so every process shares
 * them: requests in a fixed one-minute window, tokens over the last minute's calls (what calls in
 * flight hold). A write operation (it counts the request).
 */
export function* checkKeyRate(key: ApiKey, now: Date): Op<RateVerdict> {
  if (key.rpm !== null) {
    const at = now.toISOString();
    const window = yield* query('limits.hit', { key: `apikey:${key.id}`, now: at, resetAt: new Date(now.getTime() + 60_000).toISOString() });
    if (window.hits > key.rpm) return { ok: false, what: 'requests', retryAfterSeconds: Math.max(1, Math.ceil((Date.parse(window.resetAt) - now.getTime()) / 1000)) };
  }
  if (key.tpm !== null) {
    const used = yield* query('keys.tokensSince', { keyId: key.id, since: new Date(now.getTime() - 60_000).toISOString() });
    if (used >= key.tpm) return { ok: false, what: 'tokens', retryAfterSeconds: 60 };
  }
  return { ok: true };
}

/** Records that the key was used (at most once a minute); true when this wrote `now`, false when a write within the minute stands. */
export function* touchKey(id: number, now: Date): Op<boolean> {
  return (yield* query('keys.touch', { id, now: now.toISOString(), staleBefore: new Date(now.getTime() - TOUCH_EVERY_MS).toISOString() })).changes > 0;
}

export function keyAllows(key: ApiKey, model: string): boolean {
  return key.models === null || key.models.includes(model);
}
