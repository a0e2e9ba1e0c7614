// SQLite texts of the groups queries.
import { values, type Text } from '../../op';
import type { GroupQueries } from '../../queries/groups';
import { groupsShared } from '../../sql/groups';

export const groupsSql: { readonly [K in keyof GroupQueries]: Text } = {
  ...groupsShared,
  'groups.existingUsers': values('SELECT id FROM users WHERE id IN (SELECT value FROM json_each(@ids))'),
  // WHERE true: SQLite reads an ON CONFLICT after a bare SELECT's FROM as a join's ON.
  'groups.addMembers': values(`INSERT INTO group_members (group_id, user_id)
    SELECT @groupId, value FROM json_each(@ids) WHERE true ON CONFLICT (group_id, user_id) DO NOTHING RETURNING user_id`),
  'groups.removeMembers': values(`DELETE FROM group_members
    WHERE group_id = @groupId AND user_id IN (SELECT value FROM json_each(@ids)) RETURNING user_id`),
};
