// A user's two kinds of bucket as they read them (issue 24): own tokens (balances and ledger) and
// each allowance bucket (allowances and allowance_ledger). The ledger page and its CSV list the rows
// of both in time order, each marked by its bucket. Read-only: the ledger writes these tables.
import { query, pageOf, type Op, type Store } from '../storage/op';
import type { AllowanceKind, AllowanceLedgerRow, UserBucketRow } from '../storage/queries/group-usage';
import { ledgerWhere, type LedgerFilter, type LedgerKind, type LedgerRow } from './usage-report';

export type { AllowanceKind } from '../storage/queries/group-usage';

/** A ledger row of either bucket: `bucket` null for own tokens, else the group whose allowance it is. */
export interface BucketLedgerRow extends Omit<LedgerRow, 'kind'> {
  kind: LedgerKind | AllowanceKind;
  bucket: string | null;
  /** A refill's period label ('2026-12', '2026-W49', '2026-12-06'). */
  period: string | null;
}

const own = (r: LedgerRow): BucketLedgerRow => ({ ...r, bucket: null, period: null });
const fromAllowance = (r: AllowanceLedgerRow): BucketLedgerRow => ({
  ...r, bucket: r.group, cachedTokens: null, reasoningTokens: null, provider: null, holdState: null,
});

/** Time order; at the same instant own tokens first, then by id. */
function order(a: BucketLedgerRow, b: BucketLedgerRow): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
  if ((a.bucket === null) !== (b.bucket === null)) return a.bucket === null ? -1 : 1;
  return a.id - b.id;
}

/**
 * One page of both ledgers, newest first. Each table is read newest first through its (user_id,
 * id) index, as far as this page reaches, and the two are merged by time.
 */
export function* bucketLedgerPage(userId: number, filter: LedgerFilter, page: number, perPage = 50): Op<{ rows: BucketLedgerRow[]; hasMore: boolean }> {
  const where = ledgerWhere(userId, filter, filter.kind ? 0 : 1);
  const reach = page * perPage + 1;
  const owns = yield* query('reports.ledgerPage', { ...where, limit: reach, offset: 0 });
  const allowance = yield* query('groupUsage.ledgerNewest', { ...where, limit: reach });
  const merged = [...owns.map(own), ...allowance.map(fromAllowance)].sort((a, b) => order(b, a));
  return pageOf(merged.slice((page - 1) * perPage), perPage);
}

function* bothAfter(userId: number, filter: LedgerFilter, ownAfter: number, allowanceAfter: number, size: number): Op<[LedgerRow[], AllowanceLedgerRow[]]> {
  const where = ledgerWhere(userId, filter);
  return [
    yield* query('reports.ledgerChunk', { ...where, afterId: ownAfter, size }),
    yield* query('groupUsage.ledgerAfter', { ...where, afterId: allowanceAfter, size }),
  ];
}

/**
 * Both ledgers oldest first, a chunk per call, for the CSV; an empty chunk at the end. A chunk ends
 * where the first full read of the two ends, since the other table may hold later rows not read yet.
 */
export function bucketLedgerChunks(store: Store, userId: number, filter: LedgerFilter, size = 500): () => Promise<BucketLedgerRow[]> {
  let ownAfter = 0;
  let allowanceAfter = 0;
  return async () => {
    const [owns, allowance] = await store.read(bothAfter, userId, filter, ownAfter, allowanceAfter, size);
    const a = owns.map(own);
    const b = allowance.map(fromAllowance);
    const ends = [a.length === size ? a[a.length - 1] : undefined, b.length === size ? b[b.length - 1] : undefined].filter((r) => r !== undefined);
    const bound = ends.sort(order)[0];
    const chunk = [...a, ...b].sort(order).filter((r) => bound === undefined || order(r, bound) <= 0);
    for (const r of chunk) {
      if (r.bucket === null) ownAfter = r.id;
      else allowanceAfter = r.id;
    }
    return chunk;
  };
}

// ---- the buckets themselves -------------------------------------------------------------------

export interface Bucket {
  group: string;
  /** What can be spent now: 0 once the period is over (it refills at the next message). */
  left: number;
  size: number;
  /** When the next refill is due (the period's end); null when it is due now. */
  refillsAt: string | null;
}

/** The user's allowance buckets, soonest to refill first. */
export function* bucketsOf(userId: number, now = new Date()): Op<Bucket[]> {
  const rows: UserBucketRow[] = yield* query('groupUsage.bucketsOf', { userId });
  const at = now.toISOString();
  return rows.map((r) => {
    const live = r.endsAt !== null && r.endsAt > at;
    return { group: r.group, left: live ? r.balance : 0, size: r.size, refillsAt: live ? r.endsAt : null };
  });
}
