// The texts of a group's system prompt queries: the same on SQLite and PostgreSQL (quoted aliases
// both keep as written), so both dialects' catalogues take this one.
import { all, get, run, type Text } from '../op';
import type { GroupPromptQueries } from '../queries/group-prompts';

const COLUMNS = 'g.name, g.builtin, g.system_prompt AS "text", g.system_prompt_locked AS locked';

export const groupPromptsSql: { readonly [K in keyof GroupPromptQueries]: Text } = {
  'groupPrompts.ofGroup': get(`SELECT ${COLUMNS} FROM groups g WHERE g.id = @id`),
  'groupPrompts.set': run('UPDATE groups SET system_prompt = @text, system_prompt_locked = @locked WHERE id = @id'),
  'groupPrompts.forUser': all(`SELECT ${COLUMNS}
      FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = @userId AND g.system_prompt IS NOT NULL
    UNION ALL
    SELECT ${COLUMNS} FROM groups g
      WHERE g.builtin = 1 AND g.system_prompt IS NOT NULL AND NOT EXISTS (SELECT 1 FROM group_members m WHERE m.user_id = @userId)`),
};
