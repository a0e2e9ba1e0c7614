// Texts of the queries of the limits an administrator sets: the same on SQLite and PostgreSQL.
import { all, get, run, value, type Text } from '../op';
import type { OrgLimitQueries } from '../queries/org-limits';

const FIELDS = 'tokens_per_day, tokens_per_month, requests_per_minute, requests_per_hour, answers_at_once';
const VALUES = '@tokens_per_day, @tokens_per_month, @requests_per_minute, @requests_per_hour, @answers_at_once';

export const orgLimitsSql: { readonly [K in keyof OrgLimitQueries]: Text } = {
  'orgLimits.ofGroup': get(`SELECT ${FIELDS} FROM groups WHERE id = @groupId`),
  'orgLimits.setGroup': run(`UPDATE groups SET tokens_per_day = @tokens_per_day, tokens_per_month = @tokens_per_month,
    requests_per_minute = @requests_per_minute, requests_per_hour = @requests_per_hour, answers_at_once = @answers_at_once WHERE id = @groupId`),
  'orgLimits.ofUser': get(`SELECT ${FIELDS} FROM user_limits WHERE user_id = @userId`),
  'orgLimits.setUser': run(`INSERT INTO user_limits (user_id, ${FIELDS}) VALUES (@userId, ${VALUES})
    ON CONFLICT (user_id) DO UPDATE SET tokens_per_day = excluded.tokens_per_day, tokens_per_month = excluded.tokens_per_month,
      requests_per_minute = excluded.requests_per_minute, requests_per_hour = excluded.requests_per_hour, answers_at_once = excluded.answers_at_once`),
  // As groups.rulesOf: Everyone's stand only for people in no group.
  'orgLimits.groupsOf': all(`SELECT g.name, ${FIELDS.replace(/(\w+)/g, 'g.$1')}
      FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = @userId
    UNION ALL
    SELECT g.name, ${FIELDS.replace(/(\w+)/g, 'g.$1')} FROM groups g
      WHERE g.builtin = 1 AND NOT EXISTS (SELECT 1 FROM group_members m WHERE m.user_id = @userId)`),
  // request_log (user_id, at) answers both from its index; rows are written only for people a request limit applies to.
  'orgLimits.requestsSince': value('SELECT count(*) FROM request_log WHERE user_id = @userId AND at > @since'),
  'orgLimits.requestAt': value('SELECT at FROM request_log WHERE user_id = @userId AND at > @since ORDER BY at LIMIT 1 OFFSET @skip'),
  'orgLimits.logRequest': run('INSERT INTO request_log (user_id, at) VALUES (@userId, @at)'),
  'orgLimits.pruneRequests': run('DELETE FROM request_log WHERE at < @before'),
};
