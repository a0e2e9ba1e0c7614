-- Issue 26, a class's chat page: share links and prompt presets.
--
-- A share is a read-only copy of the thread a conversation showed when its owner shared it (a
-- snapshot: what a teacher graded does not change when the student edits later). Its token is a
-- random 128-bit id in the link; the owner's list shows the link again, so it is kept as is. Gone
-- with its conversation (ON DELETE CASCADE) and hidden while its owner is disabled (by the query).
CREATE TABLE shares (
  id              INTEGER PRIMARY KEY,
  token           TEXT    NOT NULL UNIQUE CHECK (length(token) = 22),
  user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  title           TEXT    NOT NULL CHECK (length(title) <= 200),
  -- The name the page shows as the author; NULL: none (never the username unless chosen).
  display_name    TEXT    CHECK (display_name IS NULL OR length(display_name) BETWEEN 1 AND 60),
  -- The thread as JSON: [{role, content, model, createdAt}], checked by the code for size.
  snapshot        TEXT    NOT NULL,
  created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  revoked_at      TEXT
);
CREATE INDEX shares_user ON shares(user_id, id);
CREATE INDEX shares_conversation ON shares(conversation_id);

-- A preset: a prompt (fills the textbox) or a system prompt, kept to reuse. A user's own
-- (user_id set), or published by an admin (user_id NULL) to everybody (group_id NULL) or to the
-- members of one group (gone with the group).
CREATE TABLE presets (
  id         INTEGER PRIMARY KEY,
  user_id    INTEGER REFERENCES users(id) ON DELETE CASCADE,
  group_id   INTEGER REFERENCES groups(id) ON DELETE CASCADE,
  kind       TEXT    NOT NULL CHECK (kind IN ('prompt', 'system')),
  name       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
  body       TEXT    NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
  created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CHECK (user_id IS NULL OR group_id IS NULL)
);
CREATE INDEX presets_user ON presets(user_id, id);
CREATE INDEX presets_group ON presets(group_id);
