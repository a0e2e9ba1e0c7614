// Queries of the codes domain (see queries/index.ts).
import type { Changes, Q } from './shape';

export type CodeState = 'unused' | 'redeemed' | 'expired' | 'void';

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
