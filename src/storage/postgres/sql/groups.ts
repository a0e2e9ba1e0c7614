// PostgreSQL texts of the groups queries.
import { values, type Text } from '../../op';
import type { GroupQueries } from '../../queries/groups';
import { groupsShared } from '../../sql/groups';

export const groupsSql: { readonly [K in keyof GroupQueries]: Text } = {
  ...groupsShared,
  'groups.existingUsers': values('SELECT id FROM users WHERE id IN (SELECT jsonb_array_elements_text(@ids::jsonb)::bigint)'),
  'groups.addMembers': values(`INSERT INTO group_members (group_id, user_id)
    SELECT @groupId::bigint, id FROM (SELECT DISTINCT jsonb_array_elements_text(@ids::jsonb)::bigint AS id) ids
    ON CONFLICT (group_id, user_id) DO NOTHING RETURNING user_id`),
  'groups.removeMembers': values(`DELETE FROM group_members
    WHERE group_id = @groupId AND user_id IN (SELECT jsonb_array_elements_text(@ids::jsonb)::bigint) RETURNING user_id`),
};
