// PostgreSQL texts of the codes queries (translated from storage/sqlite/sql/codes.ts).
import { all, get, type Text } from '../../op';
import type { CodeQueries } from '../../queries/codes';
import { codesShared } from '../../sql/codes';

const STATE_SQL = `CASE WHEN c.redeemed_by IS NOT NULL THEN 'redeemed' WHEN c.voided_at IS NOT NULL THEN 'void'
  WHEN c.expires_at IS NOT NULL AND c.expires_at <= @now::text THEN 'expired' ELSE 'unused' END`;
// SQLite's sum(boolean): NULL for a batch without codes, else how many rows are in the state.
const count = (state: string) => `sum((s.state = '${state}')::integer)`;

export const codesSql: { readonly [K in keyof CodeQueries]: Text } = {
  ...codesShared,
  'codes.claim': get(`UPDATE redemption_codes SET redeemed_by = @userId, redeemed_at = @now::text
           WHERE code_hash = @hash AND redeemed_by IS NULL AND voided_at IS NULL AND (expires_at IS NULL OR expires_at > @now::text)
           RETURNING id, tokens`),
  'codes.list': all(`SELECT * FROM (SELECT c.id, c.batch_id AS "batchId", c.tokens, c.note, c.created_at AS "createdAt", c.expires_at AS "expiresAt",
         ${STATE_SQL} AS state, u.username AS "redeemedBy", c.redeemed_at AS "redeemedAt"
       FROM redemption_codes c LEFT JOIN users u ON u.id = c.redeemed_by
       WHERE (@batchId::bigint IS NULL OR c.batch_id = @batchId::bigint)) AS listed
       WHERE (@state::text IS NULL OR state = @state::text) ORDER BY id DESC LIMIT @limit OFFSET @offset`),
  'codes.batches': all(`SELECT b.id, b.tokens, b.count, b.note, b.expires_at AS "expiresAt", b.created_at AS "createdAt", u.username AS "createdBy",
         ${count('unused')} AS unused, ${count('redeemed')} AS redeemed,
         ${count('expired')} AS expired, ${count('void')} AS "void"
       FROM code_batches b JOIN users u ON u.id = b.created_by
       LEFT JOIN (SELECT c.batch_id, ${STATE_SQL} AS state FROM redemption_codes c WHERE c.batch_id IS NOT NULL) s ON s.batch_id = b.id
       GROUP BY b.id, u.id ORDER BY b.id DESC LIMIT @limit OFFSET @offset`),
};
