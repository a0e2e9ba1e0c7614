-- Groups (issue 24, first slice): people gathered as a class or a department, the models their
-- members may use and the price they pay for them (a percent of the model's rates, fixed on each
-- hold by the rates reserve records). The built-in group "Everyone" holds the rules for people in
-- no group: it has no member rows, and it can be neither renamed nor deleted.
CREATE TABLE groups (
  id            INTEGER PRIMARY KEY,
  name          TEXT    NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 60),
  -- A JSON array of the model ids the members may use; NULL: every model the server offers.
  models        TEXT    CHECK (models IS NULL OR json_valid(models)),
  price_percent INTEGER NOT NULL DEFAULT 100 CHECK (price_percent BETWEEN 1 AND 1000),
  builtin       INTEGER NOT NULL DEFAULT 0 CHECK (builtin IN (0, 1)),
  created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO groups (name, builtin) VALUES ('Everyone', 1);

CREATE TABLE group_members (
  group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
  user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  added_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (group_id, user_id)
);
-- A user's groups, read once per turn and /v1 call.
CREATE INDEX group_members_user ON group_members(user_id);

-- Every change to a group or its members is audited. SQLite cannot change a CHECK: the table is
-- copied, as in 019.
CREATE TABLE admin_audit_025 (
  id         INTEGER PRIMARY KEY,
  actor_id   INTEGER REFERENCES users(id),
  action     TEXT    NOT NULL CHECK (action IN ('user_create', 'grant', 'deduct', 'disable', 'enable',
               'password_reset', 'promote', 'demote', 'codes_create', 'code_void', 'batch_void', 'key_revoke',
               'order_create', 'order_paid', 'order_expired', 'order_failed', 'order_refunded', 'payment_mismatch',
               'group_create', 'group_rename', 'group_delete', 'group_rules', 'group_add', 'group_remove')),
  target_user_id INTEGER REFERENCES users(id),
  detail     TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),
  created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO admin_audit_025 (id, actor_id, action, target_user_id, detail, created_at)
  SELECT id, actor_id, action, target_user_id, detail, created_at FROM admin_audit;
DROP TABLE admin_audit;
ALTER TABLE admin_audit_025 RENAME TO admin_audit;
CREATE INDEX admin_audit_target ON admin_audit(target_user_id, id) WHERE target_user_id IS NOT NULL;
