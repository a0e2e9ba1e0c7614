-- Issue 25 (the organisation's sign-in, onboarding, an admin API): what an account needs beyond a
-- username and a password.
-- - password_hash may be NULL: an account made by signing in through the organisation's OpenID
--   provider has no password (it cannot sign in with one until one is set).
-- - display_name and email (email_verified: the identity provider or an admin vouched for it).
-- - status: 'pending' accounts (registration by approval) wait for an admin, spend nothing.
-- - must_change_password: set by an admin's reset (when ticked) or a roster import's generated
--   password; the next sign-in goes to the change-password page first.
-- - break_glass: may sign in with a password when password sign-in is turned off for everyone else.
-- SQLite cannot drop a NOT NULL: the table is rebuilt as in 020.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE users_028_saved AS SELECT * FROM users;
DROP TABLE users;
CREATE TABLE users (
  id                   INTEGER PRIMARY KEY,
  username             TEXT    NOT NULL CHECK (length(username) BETWEEN 2 AND 32),
  username_key         TEXT    NOT NULL UNIQUE,
  password_hash        TEXT    CHECK (password_hash IS NULL OR password_hash LIKE '$argon2id$%'),
  role                 TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  disabled             INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  -- Bumped when a user is disabled or their password changes; sessions carrying an older epoch end.
  session_epoch        INTEGER NOT NULL DEFAULT 0 CHECK (session_epoch >= 0),
  created_at           TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  display_name         TEXT    CHECK (display_name IS NULL OR length(display_name) BETWEEN 1 AND 100),
  email                TEXT    CHECK (email IS NULL OR length(email) BETWEEN 3 AND 254),
  email_verified       INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
  status               TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'pending')),
  must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
  break_glass          INTEGER NOT NULL DEFAULT 0 CHECK (break_glass IN (0, 1))
);
INSERT INTO users (id, username, username_key, password_hash, role, disabled, session_epoch, created_at)
  SELECT id, username, username_key, password_hash, role, disabled, session_epoch, created_at FROM users_028_saved;
DROP TABLE users_028_saved;
CREATE INDEX users_email ON users(email) WHERE email IS NOT NULL;
CREATE INDEX users_pending ON users(created_at) WHERE status = 'pending';

-- The audit's actions are checked by the code (AuditAction in storage/queries/admin.ts); the table
-- keeps only a sane length, so a migration adding an action no longer rebuilds it.
CREATE TABLE admin_audit_028 (
  id         INTEGER PRIMARY KEY,
  actor_id   INTEGER REFERENCES users(id),
  action     TEXT    NOT NULL CHECK (length(action) BETWEEN 1 AND 40),
  target_user_id INTEGER REFERENCES users(id),
  detail     TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),
  created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO admin_audit_028 (id, actor_id, action, target_user_id, detail, created_at)
  SELECT id, actor_id, action, target_user_id, detail, created_at FROM admin_audit;
DROP TABLE admin_audit;
ALTER TABLE admin_audit_028 RENAME TO admin_audit;
CREATE INDEX admin_audit_target ON admin_audit(target_user_id, id) WHERE target_user_id IS NOT NULL;
