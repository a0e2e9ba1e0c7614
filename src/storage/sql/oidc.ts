// Texts of the OpenID Connect queries: the same on SQLite and PostgreSQL.
import { all, run, value, get, type Text } from '../op';
import type { OidcQueries } from '../queries/oidc';
import { PUBLIC } from './accounts';

const MAP = `m.provider, m.claim_value AS "claimValue", m.group_id AS "groupId", g.name AS "groupName"
  FROM oidc_group_map m JOIN groups g ON g.id = m.group_id`;

export const oidcSql: { readonly [K in keyof OidcQueries]: Text } = {
  'oidc.userOf': value('SELECT user_id FROM oidc_identities WHERE provider = @provider AND subject = @subject'),
  'oidc.link': value(`INSERT INTO oidc_identities (provider, subject, user_id) VALUES (@provider, @subject, @userId)
    ON CONFLICT (provider, subject) DO NOTHING RETURNING id`),
  'oidc.unlink': run('DELETE FROM oidc_identities WHERE provider = @provider AND user_id = @userId'),
  'oidc.signInWays': value(`SELECT (SELECT count(*) FROM users WHERE id = @userId AND password_hash IS NOT NULL)
    + (SELECT count(*) FROM oidc_identities WHERE user_id = @userId)`),
  'oidc.touch': run('UPDATE oidc_identities SET last_used_at = @now WHERE provider = @provider AND subject = @subject'),
  'oidc.identitiesOf': all(`SELECT provider, subject, created_at AS "createdAt", last_used_at AS "lastUsedAt"
    FROM oidc_identities WHERE user_id = @userId ORDER BY provider, id`),
  'oidc.insertUser': get(`INSERT INTO users (username, username_key, password_hash, role, display_name, email, email_verified)
    VALUES (@username, @key, NULL, 'user', @displayName, @email, @emailVerified)
    ON CONFLICT (username_key) DO NOTHING RETURNING ${PUBLIC}`),
  'oidc.mapList': all(`SELECT ${MAP} ORDER BY m.provider, m.claim_value, g.name`),
  'oidc.mapOf': all(`SELECT ${MAP} WHERE m.provider = @provider ORDER BY m.claim_value, g.name`),
  'oidc.mapAdd': run(`INSERT INTO oidc_group_map (provider, claim_value, group_id) VALUES (@provider, @claimValue, @groupId)
    ON CONFLICT (provider, claim_value, group_id) DO NOTHING`),
  'oidc.mapRemove': run('DELETE FROM oidc_group_map WHERE provider = @provider AND claim_value = @claimValue AND group_id = @groupId'),
  'oidc.breakGlass': value('SELECT break_glass FROM users WHERE id = @id'),
  'oidc.setBreakGlass': run('UPDATE users SET break_glass = @on WHERE id = @id'),
};
