// Allowance buckets (issue 24): what a user's groups give them each period, kept apart from their
// own tokens. Each (user, group) has one bucket; every change of it is one allowance_ledger row in
// the same transaction, so balance == sum(rows) per bucket, as for own tokens (`ledger verify`).
//
// A refill happens once per bucket and period: whichever process first sees the period turn (the
// user's next reserve, a change by an administrator, or the sweep) writes it, under the user's
// balance lock, and a UNIQUE index on (bucket, period) of refill rows turns a second writer into a
// rolled-back no-op, never a second credit. In `reset` mode what is left expires (its own row) and
// the bucket starts again at the allowance; in `add` mode the allowance is added, up to the cap.
import { query, type Op, type Store } from '../storage/op';
import type { DueRow } from '../storage/queries/allowances';
import { organisationZone, partLeft, periodOf } from './periods';

export type { BucketRow } from '../storage/queries/allowances';

/** A part of a hold taken from one allowance bucket: bucket id, tokens, and when its period ends. */
export interface Part {
  a: number;
  n: number;
  e: string;
}

/**
 * Opens the user's balance row if need be and locks it for the write (PostgreSQL: FOR UPDATE):
 * every change of their buckets or own tokens takes this lock first, so they never deadlock.
 */
export function* lockAccount(userId: number): Op<void> {
  yield* query('ledger.open', { userId });
  yield* query('ledger.lockBalance', { userId });
}

/** Thrown inside a write when another process wrote the same refill first: the write is rolled back and read again. */
export class RefillRace extends Error {}

function* expire(userId: number, id: number, amount: number, note: string, actorId: number | null = null): Op<void> {
  if (amount <= 0) return;
  const after = yield* query('allowances.add', { id, amount: -amount });
  if (after === undefined) throw new Error(`allowance ${id} holds less than the ${amount} to expire`);
  yield* query('allowances.row', { allowanceId: id, userId, kind: 'expire', amount: -amount, balanceAfter: after, period: null, holdId: null, actorId, note });
}

/** Refills one group's bucket for the period `now` falls in, unless that period was refilled already. */
function* refill(userId: number, row: DueRow, zone: string, now: Date): Op<void> {
  const period = periodOf(row.period, zone, now);
  const id = row.bucketId ?? (yield* query('allowances.create', { userId, groupId: row.groupId, name: row.name })) ?? (yield* query('allowances.idOf', { userId, groupId: row.groupId }))!;
  if ((yield* query('allowances.refilled', { id, label: period.label })) !== undefined) {
    // Paid for this period already (a member removed and added again, a zone or period changed): never twice.
    yield* query('allowances.move', { id, label: period.label, endsAt: period.endsAt });
    return;
  }
  let left = row.balance ?? 0;
  if (row.mode === 'reset' && left > 0) {
    yield* expire(userId, id, left, `${row.label ?? 'the last period'} ended`);
    left = 0;
  }
  // A member's first period is whole, or the part of it still to come when the group says pro rata.
  const first = row.label === null;
  const given = first && row.joinRule === 'prorata' ? Math.floor(row.allowance * partLeft(period, now)) : row.allowance;
  const ceiling = row.mode === 'add' ? (row.cap ?? Number.MAX_SAFE_INTEGER) : Number.MAX_SAFE_INTEGER;
  const after = Math.max(left, Math.min(ceiling, left + given));
  const wrote = yield* query('allowances.refillRow', {
    allowanceId: id, userId, kind: 'refill', amount: after - left, balanceAfter: after, period: period.label, holdId: null, actorId: null,
    note: `${row.name}, ${period.label}`,
  });
  if (wrote === undefined) throw new RefillRace();
  const size = row.mode === 'reset' ? given : Math.max(after, row.cap ?? after);
  yield* query('allowances.set', { id, balance: after, size, label: period.label, endsAt: period.endsAt, name: row.name });
}

/**
 * Brings the user's buckets up to `now`, inside a write that holds their balance lock: refills
 * every bucket whose period turned (or that a group they follow has not given them yet), and
 * empties, by an `expire` row, buckets of groups whose allowance no longer reaches them. Cheap
 * when nothing is due: two indexed reads.
 */
export function* syncAllowances(userId: number, now: Date): Op<void> {
  const at = now.toISOString();
  const due = (yield* query('allowances.due', { userId })).filter((r) => r.endsAt === null || r.endsAt <= at);
  if (due.length > 0) {
    const zone = yield* organisationZone();
    for (const row of due) yield* refill(userId, row, zone, now);
  }
  for (const stray of yield* query('allowances.stray', { userId })) {
    yield* expire(userId, stray.id, stray.balance, 'the group no longer gives this allowance');
  }
}

/** Brings each user's buckets up to `now` (refills, empties), each under the user's balance lock: after a change of their groups. */
export function* syncUsers(userIds: readonly number[], now = new Date()): Op<void> {
  for (const userId of userIds) {
    yield* lockAccount(userId);
    yield* syncAllowances(userId, now);
  }
}

/** The user's buckets that may be spent at `now`, soonest to end first. */
export function* liveBuckets(userId: number, now: Date): Op<{ id: number; balance: number; endsAt: string }[]> {
  return yield* query('allowances.live', { userId, now: now.toISOString() });
}

/** A user's tokens as every page that shows a balance shows them: own tokens, and each allowance bucket that counts now. */
export interface Wallet {
  own: number;
  /** Live buckets (their period not over), soonest to end first: what is left, of how much, and when it refills. */
  buckets: { group: string; left: number; size: number; endsAt: string }[];
  allowance: number;
  /** What a turn may spend: own tokens and allowance together. */
  total: number;
}

export function* walletOf(userId: number, now = new Date()): Op<Wallet> {
  const own = (yield* query('ledger.balance', { userId })) ?? 0;
  const at = now.toISOString();
  const buckets = (yield* query('allowances.ofUser', { userId }))
    .filter((b) => b.endsAt !== null && b.endsAt > at && (b.balance > 0 || b.groupId !== null))
    .map((b) => ({ group: b.groupName, left: b.balance, size: b.size, endsAt: b.endsAt! }));
  const allowance = buckets.reduce((sum, b) => sum + b.left, 0);
  return { own, buckets, allowance, total: own + allowance };
}

/** What the user's allowance buckets hold that may be spent now. */
export function* allowanceLeft(userId: number, now: Date): Op<number> {
  let sum = 0;
  for (const b of yield* liveBuckets(userId, now)) sum += b.balance;
  return sum;
}

/** Takes `parts` from their buckets for hold `holdId` (a reserve row each). */
export function* takeParts(userId: number, holdId: number, parts: readonly Part[]): Op<void> {
  for (const p of parts) {
    const after = yield* query('allowances.add', { id: p.a, amount: -p.n });
    if (after === undefined) throw new Error(`allowance ${p.a} holds less than ${p.n}`);
    yield* query('allowances.row', { allowanceId: p.a, userId, kind: 'reserve', amount: -p.n, balanceAfter: after, period: null, holdId, actorId: null, note: null });
  }
}

/**
 * Gives back what a closing hold did not spend of each part (a settle or release row each, 0 when
 * it spent it all). The charge spends the parts in order, allowance before own tokens; answers
 * what is left of the charge for own tokens. A part whose period ended while the answer ran is
 * given back and expired at once (its own row): it never joins the next period.
 */
export function* returnParts(userId: number, holdId: number, parts: readonly Part[], charge: number, kind: 'settle' | 'release', now: Date): Op<number> {
  let due = charge;
  const at = now.toISOString();
  for (const p of parts) {
    const spent = Math.min(p.n, due);
    due -= spent;
    const back = p.n - spent;
    const after = (yield* query('allowances.add', { id: p.a, amount: back }))!;
    yield* query('allowances.row', { allowanceId: p.a, userId, kind, amount: back, balanceAfter: after, period: null, holdId, actorId: null, note: null });
    if (back > 0 && p.e <= at) yield* expire(userId, p.a, back, 'given back after its period ended');
  }
  return due;
}

/** Empties every bucket of a group (its allowance was removed, or the group deleted); `actorId` for the audit trail. */
export function* expireGroup(groupId: number, note: string, actorId: number | null): Op<void> {
  for (const b of yield* query('allowances.ofGroup', { groupId })) {
    if (b.balance > 0) {
      yield* lockAccount(b.userId);
      yield* expire(b.userId, b.id, b.balance, note, actorId);
    }
  }
}

/** Adds `delta` (may be negative, never below zero) to a bucket: an administrator changed the allowance "now". */
export function* adjustBucket(userId: number, id: number, delta: number, size: number, actorId: number | null, note: string): Op<void> {
  yield* lockAccount(userId);
  const bucket = (yield* query('allowances.ofUser', { userId })).find((b) => b.id === id);
  if (!bucket) return;
  const amount = Math.max(delta, -bucket.balance);
  if (amount !== 0) {
    const after = (yield* query('allowances.add', { id, amount }))!;
    yield* query('allowances.row', { allowanceId: id, userId, kind: 'adjust', amount, balanceAfter: after, period: null, holdId: null, actorId, note });
  }
  yield* query('allowances.setSize', { id, size });
}

/**
 * The sweep (every minute, on every process): refills the buckets whose period turned for people
 * who have not sent anything since, so the pages and the admin's totals show the new period; at
 * most `batch` users per call, one transaction each. Answers how many it brought up to date.
 */
export async function refillDue(store: Store, now = new Date(), batch = 200): Promise<number> {
  const users = await store.read(function* () {
    return yield* query('allowances.dueUsers', { now: now.toISOString(), limit: batch });
  });
  for (const userId of users) {
    await store.write(syncUsers, [userId], now).catch((err: unknown) => {
      if (!(err instanceof RefillRace)) throw err; // another process refilled it at the same moment
    });
  }
  return users.length;
}
