// Texts of the usage-by-group and bucket queries (queries/group-usage.ts). One text serves both
// databases but for two things: reading a hold's parts (a JSON array) and typing a parameter that
// may be NULL, which PostgreSQL must be told.
import { all, value, type Text } from '../op';
import type { GroupUsageQueries } from '../queries/group-usage';

type Dialect = 'sqlite' | 'postgres';

/**
 * Of a closed hold `h`'s charge, what came from allowance buckets: the tokens its parts took, as far
 * as the charge goes (a charge spends the parts first, then own tokens; see migration 026).
 */
function fromAllowance(d: Dialect): string {
  return d === 'sqlite'
    ? `min(coalesce(h.charge, 0), coalesce((SELECT sum(json_extract(p.value, '$.n')) FROM json_each(h.parts) p), 0))`
    : `least(coalesce(h.charge, 0), coalesce((SELECT sum((p ->> 'n')::bigint) FROM json_array_elements(h.parts::json) p), 0))`;
}

const TURN_SUMS = (d: Dialect) => `count(*) AS turns, coalesce(sum(h.charge), 0) AS charge,
  coalesce(sum(h.used_prompt_tokens), 0) AS prompt, coalesce(sum(h.completion_tokens), 0) AS completion,
  coalesce(sum(${fromAllowance(d)}), 0) AS "fromAllowance"`;

/** The closed turns of [@start, @end) (the closed_at indexes; a closed hold is a turn's usage record). */
const CLOSED_IN = `h.closed_at IS NOT NULL AND h.closed_at >= @start AND h.closed_at < @end AND h.state <> 'held'`;

function allowanceWhere(d: Dialect): string {
  const t = d === 'postgres' ? '::text' : '';
  const i = d === 'postgres' ? '::int' : '';
  return `l.user_id = @userId AND (@kind${t} IS NULL OR l.kind = @kind${t}) AND (@from${t} IS NULL OR l.created_at >= @from${t})
    AND (@to${t} IS NULL OR l.created_at < @to${t})
    AND (@fold${i} = 0 OR l.kind <> 'reserve' OR NOT EXISTS (SELECT 1 FROM allowance_ledger c
      WHERE c.hold_id = l.hold_id AND c.allowance_id = l.allowance_id AND c.kind IN ('settle', 'release')))`;
}

// A turn's closing row carries what its reserve took from the same bucket, so the page can show one
// row per turn (what it spent) as it does for own tokens.
const ALLOWANCE_SELECT = `SELECT l.id, l.created_at AS "createdAt", l.kind, l.amount, l.balance_after AS "balanceAfter", l.note, l.period,
  a.group_name AS "group", h.model, h.used_prompt_tokens AS "promptTokens", h.completion_tokens AS "completionTokens",
  h.conversation_id AS "conversationId", h.message_id AS "messageId", k.name AS "apiKey", -r.amount AS "heldAmount"
  FROM allowance_ledger l JOIN allowances a ON a.id = l.allowance_id
  LEFT JOIN holds h ON h.id = l.hold_id LEFT JOIN api_keys k ON k.id = h.api_key_id
  LEFT JOIN allowance_ledger r ON l.kind IN ('settle', 'release') AND r.hold_id = l.hold_id AND r.allowance_id = l.allowance_id AND r.kind = 'reserve'`;

export function groupUsageTexts(d: Dialect): { readonly [K in keyof GroupUsageQueries]: Text } {
  return {
    'groupUsage.byGroupUser': all(`SELECT h.rule_group AS "group", h.user_id AS "userId", u.username, ${TURN_SUMS(d)}
      FROM holds h JOIN users u ON u.id = h.user_id WHERE ${CLOSED_IN}
      GROUP BY h.rule_group, h.user_id, u.username`),
    'groupUsage.heads': all(`SELECT g.id, g.name, g.builtin, CASE WHEN g.builtin = 1
        THEN (SELECT count(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM group_members m WHERE m.user_id = u.id))
        ELSE (SELECT count(*) FROM group_members m WHERE m.group_id = g.id) END AS members
      FROM groups g ORDER BY g.builtin DESC, g.name`),
    // Refills through their (bucket, period) index, bucket by bucket: never the turns' rows.
    'groupUsage.allowances': all(`SELECT "groupId", "group", sum(given) AS given, sum(lft) AS "left" FROM (
        SELECT a.group_id AS "groupId", a.group_name AS "group", CASE WHEN a.ends_at > @now THEN a.balance ELSE 0 END AS lft,
          (SELECT coalesce(sum(l.amount), 0) FROM allowance_ledger l
            WHERE l.allowance_id = a.id AND l.kind = 'refill' AND l.created_at >= @start AND l.created_at < @end) AS given
        FROM allowances a) t
      GROUP BY "groupId", "group"`),
    // A batch of users by id, then each one's turns of the month through holds(user_id, closed_at).
    'groupUsage.finance': all(`WITH us AS (SELECT id, username FROM users WHERE id > @afterUser ORDER BY id LIMIT @users)
      SELECT us.id AS "userId", us.username, coalesce(h.rule_group, (SELECT name FROM groups WHERE builtin = 1)) AS "group", h.model,
        ${TURN_SUMS(d)}
      FROM us JOIN holds h ON h.user_id = us.id AND ${CLOSED_IN}
      GROUP BY us.id, us.username, h.rule_group, h.model
      ORDER BY us.id, h.rule_group IS NULL, h.rule_group${d === 'postgres' ? ' COLLATE "C"' : ''}, h.model`),
    'groupUsage.batchEnd': value('SELECT max(id) FROM (SELECT id FROM users WHERE id > @afterUser ORDER BY id LIMIT @users) t'),
    'groupUsage.bucketsOf': all(`SELECT a.id, a.group_id AS "groupId", a.group_name AS "group", a.balance, a.size, a.period, a.ends_at AS "endsAt"
      FROM allowances a WHERE a.user_id = @userId AND (a.group_id IS NOT NULL OR a.balance > 0) ORDER BY a.ends_at, a.group_name, a.id`),
    'groupUsage.ledgerNewest': all(`${ALLOWANCE_SELECT} WHERE ${allowanceWhere(d)} ORDER BY l.id DESC LIMIT @limit`),
    'groupUsage.ledgerAfter': all(`${ALLOWANCE_SELECT} WHERE ${allowanceWhere(d)} AND l.id > @afterId ORDER BY l.id LIMIT @size`),
  };
}
