// The accounts queries whose text is the same on SQLite and PostgreSQL (plain SQL both understand);
// each dialect's file adds the ones that differ.
import { all, get, type Text } from '../op';
import type { AccountQueries } from '../queries/accounts';

/** An account's columns but its password hash. */
export const PUBLIC = 'id, username, username_key, role, disabled, session_epoch, created_at, status, must_change_password';

export const accountsShared = {
  'accounts.byId': get(`SELECT ${PUBLIC} FROM users WHERE id = @id`),
  'accounts.byKey': get(`SELECT ${PUBLIC} FROM users WHERE username_key = @key`),
  'accounts.credentialsByKey': get(`SELECT ${PUBLIC}, password_hash FROM users WHERE username_key = @key`),
  'accounts.list': all(`SELECT ${PUBLIC} FROM users ORDER BY id`),
} satisfies Partial<Record<keyof AccountQueries, Text>>;
