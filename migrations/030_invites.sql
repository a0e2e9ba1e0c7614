-- Issue 25, onboarding a class: invite links an admin makes. The token is shown once and kept
-- only as its SHA-256; a link has an expiry, a number of uses (taken by one conditional UPDATE, so
-- two people on the last use cannot both get in), may be revoked, and names the groups the new
-- account joins. Each use records who registered through it.
CREATE TABLE invites (
  id          INTEGER PRIMARY KEY,
  token_hash  TEXT    NOT NULL UNIQUE CHECK (length(token_hash) = 64),
  -- The token's first characters, so an admin can tell links apart without the secret.
  prefix      TEXT    NOT NULL CHECK (length(prefix) BETWEEN 1 AND 12),
  note        TEXT    CHECK (note IS NULL OR length(note) BETWEEN 1 AND 200),
  max_uses    INTEGER NOT NULL CHECK (max_uses BETWEEN 1 AND 100000),
  uses        INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
  expires_at  TEXT    NOT NULL,
  revoked_at  TEXT,
  -- NULL: made at the command line.
  created_by  INTEGER REFERENCES users(id),
  created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE invite_groups (
  invite_id INTEGER NOT NULL REFERENCES invites(id) ON DELETE CASCADE,
  group_id  INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
  PRIMARY KEY (invite_id, group_id)
);

CREATE TABLE invite_uses (
  invite_id INTEGER NOT NULL REFERENCES invites(id) ON DELETE CASCADE,
  user_id   INTEGER NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
  used_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (invite_id, user_id)
);
