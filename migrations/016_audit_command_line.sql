-- The command line's admin actions (`tokenchat grant`, `tokenchat user disable`) are audited like
-- the admin pages', by no user: actor_id NULL is the operator at the command line. An admin
-- revoking a user's API key (017) is audited too. SQLite cannot drop a NOT NULL or change a CHECK,
-- so the table is rebuilt (nothing references it).
CREATE TABLE admin_audit_016 (
  id         INTEGER PRIMARY KEY,
  actor_id   INTEGER REFERENCES users(id),
  action     TEXT    NOT NULL CHECK (action IN ('user_create', 'grant', 'deduct', 'disable', 'enable',
               'password_reset', 'promote', 'demote', 'codes_create', 'code_void', 'batch_void', 'key_revoke')),
  target_user_id INTEGER REFERENCES users(id),
  -- A small JSON object: amounts, notes, batch ids; never a password or a code.
  detail     TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),
  created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO admin_audit_016 (id, actor_id, action, target_user_id, detail, created_at)
  SELECT id, actor_id, action, target_user_id, detail, created_at FROM admin_audit;
DROP TABLE admin_audit;
ALTER TABLE admin_audit_016 RENAME TO admin_audit;
CREATE INDEX admin_audit_target ON admin_audit(target_user_id, id) WHERE target_user_id IS NOT NULL;
