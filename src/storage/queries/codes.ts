// Queries of the codes domain (see queries/index.ts).
import type { Changes } from '../op';
import type { BatchRow, CodeRow, CodeState } from '../../ledger/codes';
import type { Q } from './index';

export interface CodeQueries {
  'codes.insert': Q<
    { hash: string; tokens: number; expiresAt: string | null; note: string | null; createdBy: number | null; batchId: number | null },
    Changes
  >;
  /** Claims an unused, unvoided, unexpired code for the user; undefined when it cannot be claimed. */
  'codes.claim': Q<{ userId: number; now: string; hash: string }, { id: number; tokens: number } | undefined>;
  'codes.stateByHash': Q<
    { hash: string },
    { redeemed_by: number | null; voided_at: string | null; expires_at: string | null } | undefined
  >;
  'codes.void': Q<{ now: string; codeId: number }, Changes>;
  'codes.voidBatch': Q<{ now: string; batchId: number }, Changes>;
  'codes.list': Q<
    { now: string; state: CodeState | null; batchId: number | null; limit: number; offset: number },
    CodeRow[]
  >;
  'codes.batches': Q<{ now: string; limit: number; offset: number }, BatchRow[]>;
}
