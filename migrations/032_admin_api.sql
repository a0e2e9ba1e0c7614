-- Issue 25: admin API keys (`tca-`), for an organisation's scripts to call /admin/api/. Kept as a
-- SHA-256 like members' keys (api_keys, 017); made by an admin (created_by), whose rights the key
-- carries while that admin stays an enabled admin. scope: 'read' or 'write' (read and write).
-- uses and last_used_at count every request (reads are not audited one by one); each write's
-- audit rows name the key in admin_audit.api_key_id.
CREATE TABLE admin_api_keys (
  id           INTEGER PRIMARY KEY,
  created_by   INTEGER NOT NULL REFERENCES users(id),
  name         TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
  hash         TEXT    NOT NULL UNIQUE CHECK (length(hash) = 64),
  prefix       TEXT    NOT NULL,
  last4        TEXT    NOT NULL CHECK (length(last4) = 4),
  scope        TEXT    NOT NULL CHECK (scope IN ('read', 'write')),
  expires_at   TEXT    NOT NULL,
  created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  last_used_at TEXT,
  uses         INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
  revoked_at   TEXT
);
ALTER TABLE admin_audit ADD COLUMN api_key_id INTEGER REFERENCES admin_api_keys(id);
