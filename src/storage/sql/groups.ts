// The groups queries whose text is the same on SQLite and PostgreSQL (quoted aliases both keep as
// written); each dialect's file adds the ones that read a JSON array of ids.
import { all, get, run, value, type Text } from '../op';
import type { GroupQueries } from '../queries/groups';

const COLUMNS = `g.id, g.name, g.models, g.price_percent AS "pricePercent", g.builtin, g.created_at AS "createdAt",
  (SELECT count(*) FROM group_members c WHERE c.group_id = g.id) AS members`;

export const groupsShared = {
  'groups.list': all(`SELECT ${COLUMNS} FROM groups g ORDER BY g.builtin DESC, g.name`),
  'groups.byId': get(`SELECT ${COLUMNS} FROM groups g WHERE g.id = @id`),
  'groups.idByName': value('SELECT id FROM groups WHERE name = @name'),
  'groups.insert': value('INSERT INTO groups (name) VALUES (@name) ON CONFLICT (name) DO NOTHING RETURNING id'),
  'groups.rename': run('UPDATE groups SET name = @name WHERE id = @id AND builtin = 0'),
  'groups.delete': run('DELETE FROM groups WHERE id = @id AND builtin = 0'),
  'groups.setRules': run('UPDATE groups SET models = @models, price_percent = @pricePercent WHERE id = @id'),
  'groups.members': all(`SELECT m.user_id AS "userId", u.username, m.added_at AS "addedAt"
    FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = @groupId ORDER BY u.username`),
  'groups.ofUser': all(`SELECT ${COLUMNS} FROM groups g JOIN group_members m ON m.group_id = g.id WHERE m.user_id = @userId ORDER BY g.name`),
  // The built-in group's rules stand only for people in no group, so the read is one statement
  // whichever applies (accessOf runs it for every turn and /v1 call).
  'groups.rulesOf': all(`SELECT g.name, g.builtin, g.models, g.price_percent AS "pricePercent"
      FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = @userId
    UNION ALL
    SELECT g.name, g.builtin, g.models, g.price_percent FROM groups g
      WHERE g.builtin = 1 AND NOT EXISTS (SELECT 1 FROM group_members m WHERE m.user_id = @userId)`),
} satisfies Partial<Record<keyof GroupQueries, Text>>;
