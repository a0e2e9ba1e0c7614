// `tokenchat ledger verify`: checks the invariants the ledger promises, from the raw tables.
import { query, type Op } from '../storage/op';

export interface Violation {
  userId?: number;
  holdId?: number;
  problem: string;
}

export function* verifyLedger(recoveryWindowMs: number): Op<Violation[]> {
  const violations: Violation[] = [];
  const sums = yield* query('verify.sums', {});
  for (const { userId, balance, total } of sums) {
    if (balance !== total) violations.push({ userId, problem: `balance ${balance} != sum of ledger deltas ${total}` });
    if (balance < 0) violations.push({ userId, problem: `negative balance ${balance}` });
  }
  const lastRows = yield* query('verify.lastRows', {});
  for (const r of lastRows) violations.push({ userId: r.userId, problem: `last ledger row says ${r.after}, balance is ${r.balance}` });
  const cutoff = new Date(Date.now() - recoveryWindowMs).toISOString();
  const stale = yield* query('verify.stale', { cutoff });
  for (const h of stale) violations.push({ userId: h.userId, holdId: h.id, problem: `hold open and not heard of since ${h.at}, past the recovery window` });
  const unbalancedHolds = yield* query('verify.unbalancedHolds', {});
  for (const h of unbalancedHolds) violations.push({ userId: h.userId, holdId: h.id, problem: 'refund does not match hold minus charge' });
  // A refund takes tokens back from the balance (refund rows) or records them owed; a purchase repays what is owed (refund rows too).
  for (const r of yield* query('verify.owed', {})) {
    violations.push({ userId: r.userId, problem: `owes ${r.owed} and refunds took ${r.taken}, but refunded orders are due ${r.due} back` });
  }
  for (const r of yield* query('verify.openHolds', {})) {
    violations.push({ userId: r.userId, problem: `balance row and buckets count ${r.counted} open holds, ${r.held} are held` });
  }
  for (const b of yield* query('verify.buckets', {})) {
    violations.push({ userId: b.userId, problem: `allowance bucket ${b.id} holds ${b.balance}, its rows add up to ${b.total}, its last row says ${b.after ?? 'nothing'}` });
  }
  for (const h of yield* query('verify.holdReserves', {})) violations.push({ userId: h.userId, holdId: h.id, problem: 'reserve rows do not add up to the hold' });
  violations.push(...(yield* verifyUsageRollup()));
  return violations;
}

/** The usage rollup (usage-rollup.ts) holds exactly the turns closed before its mark, per user and for everyone. */
function* verifyUsageRollup(): Op<Violation[]> {
  const rows = yield* query('verify.rollup', {});
  return rows.map((r) => ({
    ...(r.userId === null ? {} : { userId: r.userId }),
    problem: `usage rollup for ${r.scope === 'user' ? 'the user' : 'everyone'} on ${r.day} (${r.model}) does not match the turns`,
  }));
}
