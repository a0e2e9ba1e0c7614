-- Balances, the append-only ledger, holds for turns in flight, usage records, redemption codes.
-- ledger.ts is the only writer of balances and ledger rows.

CREATE TABLE balances (
  user_id    INTEGER PRIMARY KEY REFERENCES users(id),
  balance    INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
  -- The amount the last reserve took; set by the same UPDATE so it can be RETURNed with the balance.
  last_hold  INTEGER NOT NULL DEFAULT 0 CHECK (last_hold >= 0)
);

-- A hold is the tokens set aside for one turn, from reserve until settle or release.
CREATE TABLE holds (
  id             INTEGER PRIMARY KEY,
  user_id        INTEGER NOT NULL REFERENCES users(id),
  turn_key       TEXT    NOT NULL CHECK (length(turn_key) BETWEEN 1 AND 200),
  model          TEXT    NOT NULL,
  amount         INTEGER NOT NULL CHECK (amount > 0),
  prompt_tokens  INTEGER NOT NULL CHECK (prompt_tokens >= 0),
  max_completion INTEGER NOT NULL CHECK (max_completion >= 1),
  -- The model's rates when the turn began, in millionths of a balance token per raw token.
  prompt_rate    INTEGER NOT NULL CHECK (prompt_rate >= 0),
  completion_rate INTEGER NOT NULL CHECK (completion_rate >= 0),
  -- Completion tokens streamed so far, kept up to date so a crash can be settled for them.
  delivered      INTEGER NOT NULL DEFAULT 0 CHECK (delivered >= 0),
  state          TEXT    NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'settled', 'released')),
  charge         INTEGER CHECK (charge >= 0),
  created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  closed_at      TEXT,
  UNIQUE (user_id, turn_key)
);
CREATE INDEX holds_open ON holds(state) WHERE state = 'held';

CREATE TABLE ledger (
  id            INTEGER PRIMARY KEY,
  user_id       INTEGER NOT NULL REFERENCES users(id),
  kind          TEXT    NOT NULL CHECK (kind IN ('signup_bonus', 'grant', 'redeem', 'reserve', 'settle', 'release', 'adjust')),
  amount        INTEGER NOT NULL CHECK (amount <> 0 OR kind IN ('settle', 'release')),
  balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
  actor_id      INTEGER REFERENCES users(id),
  hold_id       INTEGER REFERENCES holds(id),
  code_id       INTEGER REFERENCES redemption_codes(id),
  note          TEXT    CHECK (note IS NULL OR length(note) <= 500),
  created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CHECK ((kind IN ('reserve', 'settle', 'release')) = (hold_id IS NOT NULL)),
  CHECK ((kind = 'redeem') = (code_id IS NOT NULL))
);
CREATE INDEX ledger_user ON ledger(user_id, id);
-- One reserve per turn, and exactly one of settle / release to close it.
CREATE UNIQUE INDEX ledger_one_reserve ON ledger(hold_id) WHERE kind = 'reserve';
CREATE UNIQUE INDEX ledger_one_close ON ledger(hold_id) WHERE kind IN ('settle', 'release');

CREATE TABLE usage (
  id                INTEGER PRIMARY KEY,
  user_id           INTEGER NOT NULL REFERENCES users(id),
  hold_id           INTEGER NOT NULL UNIQUE REFERENCES holds(id),
  model             TEXT    NOT NULL,
  prompt_tokens     INTEGER NOT NULL CHECK (prompt_tokens >= 0),
  completion_tokens INTEGER NOT NULL CHECK (completion_tokens >= 0),
  charge            INTEGER NOT NULL CHECK (charge >= 0),
  -- What the turn cost beyond what the user had left (a provider counting more than estimated).
  uncollected       INTEGER NOT NULL DEFAULT 0 CHECK (uncollected >= 0),
  source            TEXT    NOT NULL CHECK (source IN ('reported', 'estimated')),
  outcome           TEXT    NOT NULL CHECK (outcome IN ('ok', 'stopped', 'error', 'recovered')),
  latency_ms        INTEGER CHECK (latency_ms >= 0),
  conversation_id   INTEGER,
  message_id        INTEGER,
  api_request_id    TEXT,
  created_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX usage_user ON usage(user_id, created_at);

CREATE TABLE redemption_codes (
  id          INTEGER PRIMARY KEY,
  code_hash   TEXT    NOT NULL UNIQUE,
  tokens      INTEGER NOT NULL CHECK (tokens > 0),
  expires_at  TEXT,
  note        TEXT,
  created_by  INTEGER REFERENCES users(id),
  created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  redeemed_by INTEGER REFERENCES users(id),
  redeemed_at TEXT,
  voided_at   TEXT,
  CHECK ((redeemed_by IS NULL) = (redeemed_at IS NULL))
);
