// `tokenchat ledger verify`: checks the invariants the ledger promises, from the raw tables.
import type SqliteDatabase from 'better-sqlite3';

export interface Violation {
  userId?: number;
  holdId?: number;
  problem: string;
}

export function verifyLedger(raw: SqliteDatabase.Database, recoveryWindowMs: number): Violation[] {
  const violations: Violation[] = [];
  const sums = raw
    .prepare(
      `SELECT u.id AS userId, coalesce(b.balance, 0) AS balance, coalesce(sum(l.amount), 0) AS total
       FROM users u LEFT JOIN balances b ON b.user_id = u.id LEFT JOIN ledger l ON l.user_id = u.id
       GROUP BY u.id`,
    )
    .all() as Array<{ userId: number; balance: number; total: number }>;
  for (const { userId, balance, total } of sums) {
    if (balance !== total) violations.push({ userId, problem: `balance ${balance} != sum of ledger deltas ${total}` });
    if (balance < 0) violations.push({ userId, problem: `negative balance ${balance}` });
  }
  const lastRows = raw
    .prepare(
      `SELECT l.user_id AS userId, l.balance_after AS after, coalesce(b.balance, 0) AS balance FROM ledger l
       JOIN (SELECT user_id, max(id) AS id FROM ledger GROUP BY user_id) m ON m.id = l.id
       LEFT JOIN balances b ON b.user_id = l.user_id WHERE l.balance_after <> coalesce(b.balance, 0)`,
    )
    .all() as Array<{ userId: number; after: number; balance: number }>;
  for (const r of lastRows) violations.push({ userId: r.userId, problem: `last ledger row says ${r.after}, balance is ${r.balance}` });
  const cutoff = new Date(Date.now() - recoveryWindowMs).toISOString();
  const stale = raw
    .prepare(`SELECT id, user_id AS userId, coalesce(alive_at, created_at) AS at FROM holds WHERE state = 'held' AND coalesce(alive_at, created_at) <= ?`)
    .all(cutoff) as Array<{ id: number; userId: number; at: string }>;
  for (const h of stale) violations.push({ userId: h.userId, holdId: h.id, problem: `hold open and not heard of since ${h.at}, past the recovery window` });
  const unbalancedHolds = raw
    .prepare(
      `SELECT h.id, h.user_id AS userId FROM holds h WHERE h.state <> 'held' AND
       h.amount - coalesce(h.charge, 0) <> coalesce((SELECT sum(amount) FROM ledger WHERE hold_id = h.id AND kind IN ('settle', 'release')), 0)`,
    )
    .all() as Array<{ id: number; userId: number }>;
  for (const h of unbalancedHolds) violations.push({ userId: h.userId, holdId: h.id, problem: 'refund does not match hold minus charge' });
  return violations;
}
