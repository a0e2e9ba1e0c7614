// PostgreSQL texts of the account queries (translated from storage/sqlite/sql/accounts.ts).
import { get, value, type Text } from '../../op';
import type { AccountQueries } from '../../queries/accounts';
import { accountsShared, PUBLIC } from '../../sql/accounts';


export const accountsSql: { readonly [K in keyof AccountQueries]: Text } = {
  ...accountsShared,
  'accounts.insert': get(`INSERT INTO users (username, username_key, password_hash, role)
    SELECT @username::text, @key::text, @hash::text,
           CASE WHEN @role::text <> 'auto' THEN @role::text WHEN EXISTS (SELECT 1 FROM users) THEN 'user' ELSE 'admin' END
    WHERE true
    ON CONFLICT (username_key) DO NOTHING
    RETURNING ${PUBLIC}`),
  'accounts.lockRoles': value('SELECT pg_advisory_xact_lock(7860001)'),
};
