// Texts of the roster and own-password queries (queries/roster.ts): one text for both databases
// but for reading a JSON array of keys.
import { get, run, value, all, type Text } from '../op';
import type { RosterQueries } from '../queries/roster';

type Dialect = 'sqlite' | 'postgres';

export function rosterTexts(d: Dialect): { readonly [K in keyof RosterQueries]: Text } {
  const keys = d === 'sqlite' ? 'SELECT value FROM json_each(@keys)' : 'SELECT jsonb_array_elements_text(@keys::jsonb)';
  const t = d === 'postgres' ? '::text' : '';
  return {
    'roster.usersByKeys': all(`SELECT u.id, u.username_key AS key,
        CASE WHEN EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = @groupId AND m.user_id = u.id) THEN 1 ELSE 0 END AS "inGroup"
      FROM users u WHERE u.username_key IN (${keys})`),
    'roster.insertUser': value(`INSERT INTO users (username, username_key, password_hash, role, display_name, email, must_change_password)
      VALUES (@username, @key, @hash, 'user', @displayName${t}, @email${t}, @mustChange)
      ON CONFLICT (username_key) DO NOTHING RETURNING id`),
    'account.passwordHash': get('SELECT password_hash, session_epoch FROM users WHERE id = @id'),
    'account.setOwnPassword': value(`UPDATE users SET password_hash = @hash, session_epoch = session_epoch + 1, must_change_password = 0
      WHERE id = @id AND session_epoch = @epoch RETURNING session_epoch`),
    'account.setMustChange': run('UPDATE users SET must_change_password = @mustChange WHERE id = @id'),
  };
}
