// The allowance queries: the same text on SQLite and PostgreSQL (quoted aliases both keep as written).
import { all, get, run, value, values, type Text } from '../op';
import type { AllowanceQueries } from '../queries/allowances';
import { FOLLOWS } from './ledger';

const BUCKET = `a.id, a.user_id AS "userId", a.group_id AS "groupId", a.group_name AS "groupName", a.balance, a.size,
  a.period AS label, a.ends_at AS "endsAt"`;

export const allowancesSql = {
  'allowances.due': all(`SELECT g.id AS "groupId", g.name, g.allowance, g.allowance_period AS period, g.allowance_mode AS mode,
      g.allowance_cap AS cap, g.allowance_join AS "joinRule", a.id AS "bucketId", a.balance, a.size, a.period AS label, a.ends_at AS "endsAt"
    FROM groups g LEFT JOIN allowances a ON a.group_id = g.id AND a.user_id = @userId
    WHERE g.allowance IS NOT NULL AND ${FOLLOWS('g')} ORDER BY g.id`),
  'allowances.stray': all(`SELECT a.id, a.balance FROM allowances a WHERE a.user_id = @userId AND a.balance > 0
    AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.id = a.group_id AND g.allowance IS NOT NULL AND ${FOLLOWS('g')}) ORDER BY a.id`),
  'allowances.create': value(`INSERT INTO allowances (user_id, group_id, group_name) VALUES (@userId, @groupId, @name)
    ON CONFLICT (user_id, group_id) DO NOTHING RETURNING id`),
  'allowances.idOf': value('SELECT id FROM allowances WHERE user_id = @userId AND group_id = @groupId'),
  'allowances.refilled': value(`SELECT id FROM allowance_ledger WHERE allowance_id = @id AND period = @label AND kind = 'refill'`),
  'allowances.set': run('UPDATE allowances SET balance = @balance, size = @size, period = @label, ends_at = @endsAt, group_name = @name WHERE id = @id'),
  'allowances.move': run('UPDATE allowances SET period = @label, ends_at = @endsAt WHERE id = @id'),
  'allowances.endNow': run('UPDATE allowances SET ends_at = @now WHERE group_id = @groupId AND ends_at > @now'),
  'allowances.add': value('UPDATE allowances SET balance = balance + @amount WHERE id = @id AND balance + @amount >= 0 RETURNING balance'),
  'allowances.setSize': run('UPDATE allowances SET size = @size WHERE id = @id'),
  'allowances.row': run(`INSERT INTO allowance_ledger (allowance_id, user_id, kind, amount, balance_after, period, hold_id, actor_id, note)
    VALUES (@allowanceId, @userId, @kind, @amount, @balanceAfter, @period, @holdId, @actorId, @note)`),
  'allowances.refillRow': value(`INSERT INTO allowance_ledger (allowance_id, user_id, kind, amount, balance_after, period, hold_id, actor_id, note)
    VALUES (@allowanceId, @userId, @kind, @amount, @balanceAfter, @period, @holdId, @actorId, @note)
    ON CONFLICT (allowance_id, period) WHERE kind = 'refill' DO NOTHING RETURNING id`),
  'allowances.live': all(`SELECT id, balance, ends_at AS "endsAt" FROM allowances WHERE user_id = @userId AND balance > 0 AND ends_at > @now
    ORDER BY ends_at, id`),
  'allowances.ofUser': all(`SELECT ${BUCKET} FROM allowances a WHERE a.user_id = @userId
    AND (a.balance > 0 OR EXISTS (SELECT 1 FROM groups g WHERE g.id = a.group_id AND g.allowance IS NOT NULL AND ${FOLLOWS('g')}))
    ORDER BY a.ends_at, a.id`),
  'allowances.ofGroup': all(`SELECT ${BUCKET} FROM allowances a WHERE a.group_id = @groupId ORDER BY a.user_id`),
  'allowances.config': get(`SELECT allowance, allowance_period AS period, allowance_mode AS mode, allowance_cap AS cap, allowance_join AS "joinRule"
    FROM groups WHERE id = @groupId`),
  'allowances.setConfig': run(`UPDATE groups SET allowance = @allowance, allowance_period = @period, allowance_mode = @mode,
    allowance_cap = @cap, allowance_join = @joinRule WHERE id = @groupId`),
  'allowances.dueUsers': values(`SELECT user_id FROM (
      SELECT a.user_id FROM allowances a JOIN groups g ON g.id = a.group_id WHERE g.allowance IS NOT NULL AND a.ends_at <= @now
        AND (EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND m.user_id = a.user_id)
          OR (g.builtin = 1 AND NOT EXISTS (SELECT 1 FROM group_members m2 WHERE m2.user_id = a.user_id)))
      UNION
      SELECT m.user_id FROM group_members m JOIN groups g ON g.id = m.group_id
        WHERE g.allowance IS NOT NULL AND NOT EXISTS (SELECT 1 FROM allowances a WHERE a.user_id = m.user_id AND a.group_id = g.id)
    ) d ORDER BY user_id LIMIT @limit`),
  'verify.buckets': all(`SELECT * FROM (SELECT a.id, a.user_id AS "userId", a.balance,
      coalesce((SELECT sum(l.amount) FROM allowance_ledger l WHERE l.allowance_id = a.id), 0) AS total,
      (SELECT l.balance_after FROM allowance_ledger l WHERE l.allowance_id = a.id ORDER BY l.id DESC LIMIT 1) AS after
    FROM allowances a) c WHERE balance <> total OR balance < 0 OR (after IS NOT NULL AND after <> balance) OR (after IS NULL AND balance <> 0)`),
  'verify.holdReserves': all(`SELECT h.id, h.user_id AS "userId" FROM holds h WHERE h.amount <> -(
      coalesce((SELECT sum(amount) FROM ledger WHERE hold_id = h.id AND kind = 'reserve'), 0)
      + coalesce((SELECT sum(amount) FROM allowance_ledger WHERE hold_id = h.id AND kind = 'reserve'), 0))`),
  'allowances.memberIds': values('SELECT user_id FROM group_members WHERE group_id = @groupId ORDER BY user_id'),
  'allowances.topMembers': all(`SELECT u.id AS "userId", u.username, sum(h.charge) AS spent
    FROM group_members m JOIN users u ON u.id = m.user_id
    JOIN holds h ON h.user_id = m.user_id AND h.closed_at IS NOT NULL AND h.closed_at >= @start AND h.closed_at < @end
    WHERE m.group_id = @groupId GROUP BY u.id, u.username HAVING sum(h.charge) > 0 ORDER BY spent DESC, u.id LIMIT @limit`),
  'allowances.topUngrouped': all(`SELECT u.id AS "userId", u.username, sum(h.charge) AS spent
    FROM holds h JOIN users u ON u.id = h.user_id
    WHERE h.closed_at IS NOT NULL AND h.closed_at >= @start AND h.closed_at < @end
      AND NOT EXISTS (SELECT 1 FROM group_members m WHERE m.user_id = h.user_id)
    GROUP BY u.id, u.username HAVING sum(h.charge) > 0 ORDER BY spent DESC, u.id LIMIT @limit`),
  'allowances.ungroupedCount': value('SELECT count(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM group_members m WHERE m.user_id = u.id)'),
} satisfies { readonly [K in keyof AllowanceQueries]: Text };
