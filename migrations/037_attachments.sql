-- Issue 26: files attached to a chat message. An image keeps its bytes here (every process serves
-- it from the database, as it serves everything else); a document keeps only the text extracted
-- from it, which each later turn re-sends without extracting again. A row is pending (message_id
-- NULL) from its upload until a send takes it; it goes with its message (Undo, Clear, deleting the
-- conversation) and with its user. Pending rows nobody sent are removed a day after their upload.
CREATE TABLE attachments (
  id          INTEGER PRIMARY KEY,
  user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  message_id  INTEGER REFERENCES messages(id) ON DELETE CASCADE,
  kind        TEXT    NOT NULL CHECK (kind IN ('image', 'document')),
  name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
  mime        TEXT    NOT NULL CHECK (length(mime) BETWEEN 1 AND 100),
  size        INTEGER NOT NULL CHECK (size > 0),
  data        BLOB,
  text        TEXT,
  pages       INTEGER CHECK (pages IS NULL OR pages >= 0),
  created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CHECK ((kind = 'image' AND data IS NOT NULL AND text IS NULL) OR (kind = 'document' AND text IS NOT NULL AND data IS NULL))
);
CREATE INDEX attachments_message ON attachments(message_id) WHERE message_id IS NOT NULL;
CREATE INDEX attachments_pending ON attachments(user_id, created_at) WHERE message_id IS NULL;
