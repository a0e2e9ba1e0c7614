-- Accounts. username_key is the NFKC, lower-cased form: unique case-insensitively.
CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  username      TEXT    NOT NULL CHECK (length(username) BETWEEN 3 AND 32),
  username_key  TEXT    NOT NULL UNIQUE,
  password_hash TEXT    NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
  role          TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  -- Bumped when a user is disabled (later: password reset); sessions carrying an older epoch end.
  session_epoch INTEGER NOT NULL DEFAULT 0 CHECK (session_epoch >= 0),
  created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
