// Texts of the preset queries: the same on SQLite and PostgreSQL (quoted aliases both keep).
import { all, get, run, value, type Text } from '../op';
import type { PresetQueries } from '../queries/presets';

const PRESET = `p.id, p.user_id AS "userId", p.group_id AS "groupId", g.name AS "groupName", p.kind, p.name, p.body,
  p.updated_at AS "updatedAt"`;
const FROM = 'FROM presets p LEFT JOIN groups g ON g.id = p.group_id';

export const presetsSql: { readonly [K in keyof PresetQueries]: Text } = {
  'presets.insert': value(`INSERT INTO presets (user_id, group_id, kind, name, body) VALUES (@userId, @groupId, @kind, @name, @body) RETURNING id`),
  'presets.countOwn': value('SELECT count(*) FROM presets WHERE user_id = @userId'),
  'presets.countPublished': value('SELECT count(*) FROM presets WHERE user_id IS NULL'),
  'presets.own': all(`SELECT ${PRESET} ${FROM} WHERE p.user_id = @userId ORDER BY p.name, p.id`),
  // Members of a group get its presets; people in no group get the builtin group's, as its rules.
  'presets.publishedFor': all(`SELECT ${PRESET} ${FROM} WHERE p.user_id IS NULL AND (p.group_id IS NULL
      OR p.group_id IN (SELECT group_id FROM group_members WHERE user_id = @userId)
      OR (g.builtin = 1 AND NOT EXISTS (SELECT 1 FROM group_members m WHERE m.user_id = @userId)))
    ORDER BY p.name, p.id`),
  'presets.published': all(`SELECT ${PRESET} ${FROM} WHERE p.user_id IS NULL ORDER BY p.name, p.id`),
  'presets.byId': get(`SELECT ${PRESET} ${FROM} WHERE p.id = @id`),
  'presets.update': run('UPDATE presets SET group_id = @groupId, kind = @kind, name = @name, body = @body, updated_at = @now WHERE id = @id'),
  'presets.delete': run('DELETE FROM presets WHERE id = @id'),
};
