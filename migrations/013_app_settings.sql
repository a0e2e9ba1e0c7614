-- Settings every server process on this database must agree on, such as the sha256 of the
-- models file in use (prices must not differ between hosts). 012 is PostgreSQL's sessions table.
CREATE TABLE app_settings (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
