-- Personal API keys for /v1: a user's own tools spend from their balance. Only a key's SHA-256 is
-- kept (a key has 190 random bits, so a fast hash is enough, as for redemption codes); its prefix
-- and last four characters are kept to tell keys apart on the page.
CREATE TABLE api_keys (
  id           INTEGER PRIMARY KEY,
  user_id      INTEGER NOT NULL REFERENCES users(id),
  name         TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
  hash         TEXT    NOT NULL UNIQUE CHECK (length(hash) = 64),
  prefix       TEXT    NOT NULL,
  last4        TEXT    NOT NULL CHECK (length(last4) = 4),
  -- A JSON array of model ids the key may use; NULL: every model the server offers.
  models       TEXT    CHECK (models IS NULL OR json_valid(models)),
  -- The most the key may spend per UTC day and in all, in balance tokens; NULL: no limit.
  per_day      INTEGER CHECK (per_day IS NULL OR per_day > 0),
  total        INTEGER CHECK (total IS NULL OR total > 0),
  -- Requests and tokens (prompt + completion) per minute the key may use, in every process together; NULL: no limit.
  rpm          INTEGER CHECK (rpm IS NULL OR rpm > 0),
  tpm          INTEGER CHECK (tpm IS NULL OR tpm > 0),
  expires_at   TEXT,
  created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  last_used_at TEXT,
  revoked_at   TEXT,
  -- The page's form that made the key: sent again (a reload, a double click), it makes no second key.
  form_id      TEXT CHECK (form_id IS NULL OR length(form_id) BETWEEN 1 AND 64),
  UNIQUE (user_id, form_id)
);
CREATE INDEX api_keys_user ON api_keys(user_id, id);

-- The key a turn was made with (NULL: the chat page), for each key's spending and its limits.
ALTER TABLE holds ADD COLUMN api_key_id INTEGER REFERENCES api_keys(id);
CREATE INDEX holds_api_key ON holds(api_key_id, created_at) WHERE api_key_id IS NOT NULL;
