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
  violations.push(...verifyUsageRollup(raw));
  return violations;
}

/** The usage rollup (usage-rollup.ts) holds exactly the turns closed before its mark, per user and for everyone. */
function verifyUsageRollup(raw: SqliteDatabase.Database): Violation[] {
  const SUMS = 'count(*) AS turns, coalesce(sum(charge), 0) AS charge, coalesce(sum(prompt_tokens), 0) AS prompt, coalesce(sum(completion_tokens), 0) AS completion';
  const rows = raw
    .prepare(
      `WITH mark AS (SELECT rolled_until AS at FROM usage_rollup WHERE id = 1),
         turns AS (SELECT user_id, substr(created_at, 1, 10) AS day, model, ${SUMS} FROM usage WHERE created_at < (SELECT at FROM mark) GROUP BY 1, 2, 3),
         everyone AS (SELECT day, model, sum(turns) AS turns, sum(charge) AS charge, sum(prompt) AS prompt, sum(completion) AS completion FROM turns GROUP BY 1, 2)
       SELECT t.user_id AS userId, t.day, t.model, 'user' AS scope FROM turns t
         LEFT JOIN usage_daily d USING (user_id, day, model)
         WHERE d.turns IS NOT t.turns OR d.charge IS NOT t.charge OR d.prompt IS NOT t.prompt OR d.completion IS NOT t.completion
       UNION ALL
       SELECT d.user_id, d.day, d.model, 'user' FROM usage_daily d LEFT JOIN turns t USING (user_id, day, model) WHERE t.turns IS NULL
       UNION ALL
       SELECT NULL, e.day, e.model, 'everyone' FROM everyone e LEFT JOIN usage_daily_all a USING (day, model)
         WHERE a.turns IS NOT e.turns OR a.charge IS NOT e.charge OR a.prompt IS NOT e.prompt OR a.completion IS NOT e.completion
       UNION ALL
       SELECT NULL, a.day, a.model, 'everyone' FROM usage_daily_all a LEFT JOIN everyone e USING (day, model) WHERE e.turns IS NULL`,
    )
    .all() as Array<{ userId: number | null; day: string; model: string; scope: string }>;
  return rows.map((r) => ({
    ...(r.userId === null ? {} : { userId: r.userId }),
    problem: `usage rollup for ${r.scope === 'user' ? 'the user' : 'everyone'} on ${r.day} (${r.model}) does not match the turns`,
  }));
}
