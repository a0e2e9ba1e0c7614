-- Issue 25: sign-in through the organisation's OpenID Connect providers.
-- - oidc_identities: which account an identity (provider + subject, the provider's stable id)
--   signs in to. Made at the account's first sign-in, or by linking (the admin, or the owner while
--   signed in); never by matching a username or an email.
-- - oidc_group_map: a claim's value (a "groups" or "roles" entry) mapped to a tokenchat group, by
--   the admin. Only mapped groups are managed by claims: manual memberships of others stay.
CREATE TABLE oidc_identities (
  id         INTEGER PRIMARY KEY,
  provider   TEXT    NOT NULL CHECK (length(provider) BETWEEN 1 AND 40),
  subject    TEXT    NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
  user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  last_used_at TEXT,
  UNIQUE (provider, subject)
);
CREATE INDEX oidc_identities_user ON oidc_identities(user_id);

CREATE TABLE oidc_group_map (
  provider    TEXT    NOT NULL CHECK (length(provider) BETWEEN 1 AND 40),
  claim_value TEXT    NOT NULL CHECK (length(claim_value) BETWEEN 1 AND 255),
  group_id    INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
  created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (provider, claim_value, group_id)
);
