-- Usernames of two characters (many Chinese names are two: 小明, 张伟). SQLite cannot change a
-- CHECK, so the table is rebuilt; many tables reference users, so their foreign keys are checked
-- at COMMIT (defer_foreign_keys), once the rows are back under the same ids.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE users_020_saved AS SELECT * FROM users;
DROP TABLE users;
CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  username      TEXT    NOT NULL CHECK (length(username) BETWEEN 2 AND 32),
  username_key  TEXT    NOT NULL UNIQUE,
  password_hash TEXT    NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
  role          TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  -- Bumped when a user is disabled (later: password reset); sessions carrying an older epoch end.
  session_epoch INTEGER NOT NULL DEFAULT 0 CHECK (session_epoch >= 0),
  created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO users (id, username, username_key, password_hash, role, disabled, session_epoch, created_at)
  SELECT id, username, username_key, password_hash, role, disabled, session_epoch, created_at FROM users_020_saved;
DROP TABLE users_020_saved;
