// A user's two kinds of bucket as they read them (issue 24): own tokens (balances and ledger) and
// each allowance bucket (allowances and allowance_ledger). The ledger page and its CSV list the rows
// of both by time, each table's rows in id order (see merge), each marked by its bucket. Read-only:
// the ledger writes these tables.
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
 * Merges the rows of the two tables by time, each table's rows kept in the order they were read:
 * their ids'. Within one table ids, not times, are the order of the balance: on PostgreSQL a row's
 * time is when its statement began, and a reserve that waited for the balance's lock behind
 * another takes the later id with the earlier time. Sorting by time instead put such a row after
 * the CSV's last id read, and the next chunk read it again (a row twice in the download). Stops
 * where a table that `more` says has rows not read yet runs out; answers how many rows of each it took.
 */
function merge(
  a: BucketLedgerRow[], b: BucketLedgerRow[], first: (x: BucketLedgerRow, y: BucketLedgerRow) => boolean, more: { a: boolean; b: boolean },
): { rows: BucketLedgerRow[]; fromA: number; fromB: number } {
  const rows: BucketLedgerRow[] = [];
  let i = 0;
  let j = 0;
  for (;;) {
    if (i < a.length && j < b.length) rows.push(first(b[j]!, a[i]!) ? b[j++]! : a[i++]!);
    else if (i < a.length && !more.b) rows.push(a[i++]!);
    else if (j < b.length && !more.a) rows.push(b[j++]!);
    else return { rows, fromA: i, fromB: j };
  }
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
  // Merged whole: a table that ran out after `reach` rows has taken more than this page shows.
  const { rows } = merge(owns.map(own), allowance.map(fromAllowance), (x, y) => order(x, y) > 0, { a: false, b: false });
  return pageOf(rows.slice((page - 1) * perPage), perPage);
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
 * where a table read in full (it may hold later rows not read yet) runs out in the merge; each
 * table's next read starts after the last of its rows the chunk took.
 */
export function bucketLedgerChunks(store: Store, userId: number, filter: LedgerFilter, size = 500): () => Promise<BucketLedgerRow[]> {
  let ownAfter = 0;
  let allowanceAfter = 0;
  return async () => {
    const [owns, allowance] = await store.read(bothAfter, userId, filter, ownAfter, allowanceAfter, size);
    const { rows, fromA, fromB } = merge(owns.map(own), allowance.map(fromAllowance), (x, y) => order(x, y) < 0, { a: owns.length === size, b: allowance.length === size });
    if (fromA > 0) ownAfter = owns[fromA - 1]!.id;
    if (fromB > 0) allowanceAfter = allowance[fromB - 1]!.id;
    return rows;
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
