// SQLite texts of the account queries.
import { get, value, type Text } from '../../op';
import type { AccountQueries } from '../../queries/accounts';
import { accountsShared, PUBLIC } from '../../sql/accounts';


export const accountsSql: { readonly [K in keyof AccountQueries]: Text } = {
  ...accountsShared,
  'accounts.insert': get(`INSERT INTO users (username, username_key, password_hash, role)
    SELECT @username, @key, @hash,
           CASE WHEN @role <> 'auto' THEN @role WHEN EXISTS (SELECT 1 FROM users) THEN 'user' ELSE 'admin' END
    WHERE true -- SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT
    ON CONFLICT (username_key) DO NOTHING
    RETURNING ${PUBLIC}`),
  'accounts.lockRoles': value('SELECT 1'),
};
