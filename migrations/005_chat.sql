-- Conversations and their messages. chat.ts is their only writer; what a turn cost lives in the
-- ledger (holds), and each assistant message keeps a copy of its figures to show beside it.

CREATE TABLE conversations (
  id            INTEGER PRIMARY KEY,
  user_id       INTEGER NOT NULL REFERENCES users(id),
  title         TEXT    NOT NULL DEFAULT '' CHECK (length(title) <= 200),
  -- The "Additional inputs" the user last sent with, so the page comes back as they left it.
  system_prompt TEXT    NOT NULL DEFAULT '' CHECK (length(system_prompt) <= 20000),
  model         TEXT,
  temperature   REAL    CHECK (temperature IS NULL OR (temperature >= 0 AND temperature <= 2)),
  max_tokens    INTEGER CHECK (max_tokens IS NULL OR max_tokens >= 1),
  created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX conversations_user ON conversations(user_id, updated_at);

-- AUTOINCREMENT: an id is never reused after Undo or Retry, so a page (#m<id>) and the usage
-- records of earlier turns never point at a different message.
CREATE TABLE messages (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  conversation_id   INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  role              TEXT    NOT NULL CHECK (role IN ('user', 'assistant')),
  content           TEXT    NOT NULL DEFAULT '',
  -- streaming until the turn ends; then done, stopped (by the user or a closed tab) or error.
  status            TEXT    NOT NULL DEFAULT 'done' CHECK (status IN ('streaming', 'done', 'stopped', 'error')),
  error             TEXT,
  model             TEXT,
  prompt_tokens     INTEGER CHECK (prompt_tokens >= 0),
  completion_tokens INTEGER CHECK (completion_tokens >= 0),
  charge            INTEGER CHECK (charge >= 0),
  source            TEXT    CHECK (source IN ('reported', 'estimated')),
  -- Earlier messages left out of this turn's prompt to fit the model's context window.
  dropped           INTEGER NOT NULL DEFAULT 0 CHECK (dropped >= 0),
  hold_id           INTEGER REFERENCES holds(id),
  created_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX messages_conversation ON messages(conversation_id, id);
CREATE INDEX messages_hold ON messages(hold_id) WHERE hold_id IS NOT NULL;
