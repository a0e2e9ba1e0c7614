// The accounts queries whose text is the same on SQLite and PostgreSQL (plain SQL both understand);
// each dialect's file adds the ones that differ.
import { all, get, run, type Text } from '../op';
import type { AccountQueries } from '../queries/accounts';

/** An account's columns but its password hash. */
export const PUBLIC = 'id, username, username_key, role, disabled, session_epoch, created_at, status, must_change_password, time_zone';

export const accountsShared = {
  'accounts.byId': get(`SELECT ${PUBLIC} FROM users WHERE id = @id`),
  'accounts.byKey': get(`SELECT ${PUBLIC} FROM users WHERE username_key = @key`),
  'accounts.credentialsByKey': get(`SELECT ${PUBLIC}, password_hash FROM users WHERE username_key = @key`),
  'accounts.list': all(`SELECT ${PUBLIC} FROM users ORDER BY id`),
  'accounts.setTimeZone': run('UPDATE users SET time_zone = @zone WHERE id = @id'),
} satisfies Partial<Record<keyof AccountQueries, Text>>;
