// The codes queries whose text is the same on SQLite and PostgreSQL (plain SQL both understand);
// each dialect's file adds the ones that differ.
import { get, run, type Text } from '../op';
import type { CodeQueries } from '../queries/codes';

export const codesShared = {
  'codes.insert': run(`INSERT INTO redemption_codes (code_hash, tokens, expires_at, note, created_by, batch_id)
    VALUES (@hash, @tokens, @expiresAt, @note, @createdBy, @batchId)`),
  'codes.stateByHash': get('SELECT redeemed_by, voided_at, expires_at FROM redemption_codes WHERE code_hash = @hash'),
  'codes.void': run('UPDATE redemption_codes SET voided_at = @now WHERE id = @codeId AND redeemed_by IS NULL AND voided_at IS NULL'),
  'codes.voidBatch': run('UPDATE redemption_codes SET voided_at = @now WHERE batch_id = @batchId AND redeemed_by IS NULL AND voided_at IS NULL'),
} satisfies Partial<Record<keyof CodeQueries, Text>>;
