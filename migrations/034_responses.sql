-- Responses kept for /v1/responses (previous_response_id, GET and DELETE /v1/responses/{id}):
-- each belongs to the key that made it (another key, even the same user's, finds nothing), goes
-- with its user and key, and is swept after RESPONSES_KEEP_DAYS. `history` is the conversation as
-- chat messages (input and output, without the instructions), what a continuation is sent and
-- charged for; `response` is the response object as its client got it.
CREATE TABLE api_responses (
  id         TEXT    PRIMARY KEY,
  user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  api_key_id INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
  created_at TEXT    NOT NULL,
  history    TEXT    NOT NULL,
  response   TEXT    NOT NULL
);
CREATE INDEX api_responses_key ON api_responses(api_key_id);
CREATE INDEX api_responses_user ON api_responses(user_id);
CREATE INDEX api_responses_created ON api_responses(created_at);
