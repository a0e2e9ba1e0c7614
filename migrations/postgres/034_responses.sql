-- Responses kept for /v1/responses (see the SQLite migration of the same number).
CREATE TABLE api_responses (
  id         TEXT COLLATE "C" PRIMARY KEY,
  user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  api_key_id BIGINT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
  created_at TEXT COLLATE "C" NOT NULL,
  history    TEXT NOT NULL,
  response   TEXT NOT NULL
);
CREATE INDEX api_responses_key ON api_responses(api_key_id);
CREATE INDEX api_responses_user ON api_responses(user_id);
CREATE INDEX api_responses_created ON api_responses(created_at);
