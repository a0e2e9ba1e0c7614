-- PostgreSQL only: the signals between server processes (Stop, disabling a user, revoking a key)
-- are kept for a few minutes beside their NOTIFY, so a process whose listening connection was
-- down (a network blip, the database restarting) reads the ones it missed when it listens again.
-- SQLite's processes share no channel (storage/signals.ts). Rows older than ten minutes are
-- deleted by the statement that adds one.
CREATE TABLE signals (
  id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  payload TEXT NOT NULL CHECK (json_valid(payload)),
  sent_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX signals_sent_at ON signals (sent_at);
