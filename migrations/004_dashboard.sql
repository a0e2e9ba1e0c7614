-- Usage dashboard and administration: users' spend limits, code batches, the admin audit log,
-- and indexes for the usage reports.

-- Limits a user sets on their own spending; NULL means no limit. Checked before a turn reserves.
CREATE TABLE spend_limits (
  user_id     INTEGER PRIMARY KEY REFERENCES users(id),
  per_message INTEGER CHECK (per_message IS NULL OR per_message > 0),
  per_day     INTEGER CHECK (per_day IS NULL OR per_day > 0),
  updated_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- A batch of redemption codes made together from the admin page (the CLI makes codes without one).
CREATE TABLE code_batches (
  id         INTEGER PRIMARY KEY,
  tokens     INTEGER NOT NULL CHECK (tokens > 0),
  count      INTEGER NOT NULL CHECK (count > 0),
  expires_at TEXT,
  note       TEXT    CHECK (note IS NULL OR length(note) <= 500),
  created_by INTEGER NOT NULL REFERENCES users(id),
  created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
ALTER TABLE redemption_codes ADD COLUMN batch_id INTEGER REFERENCES code_batches(id);
CREATE INDEX redemption_codes_batch ON redemption_codes(batch_id);

-- Every administrator action, with who did it; append-only.
CREATE TABLE admin_audit (
  id         INTEGER PRIMARY KEY,
  actor_id   INTEGER NOT NULL REFERENCES users(id),
  action     TEXT    NOT NULL CHECK (action IN ('user_create', 'grant', 'deduct', 'disable', 'enable',
               'password_reset', 'promote', 'demote', 'codes_create', 'code_void', 'batch_void')),
  target_user_id INTEGER REFERENCES users(id),
  -- A small JSON object: amounts, notes, batch ids; never a password or a code.
  detail     TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),
  created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- System-wide reports read usage by day. `usage` is a view over closed holds (003), so the index
-- is on holds, and partial so that a reserve does not write to it. One user's usage since a time
-- uses holds_closed (user_id, closed_at) from 003; their open holds are few (holds_open).
CREATE INDEX holds_closed_time ON holds(closed_at) WHERE closed_at IS NOT NULL;
