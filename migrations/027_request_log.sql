-- Requests per minute and per hour (limits an administrator sets) are counted in a log of their
-- own, written only for people such a limit applies to, instead of from an index on every hold:
-- that index cost every reserve of everyone about a sixth of the ledger's pairs per second
-- (BENCHMARKS.md, 2026-12-06). The sweep deletes rows older than an hour.
DROP INDEX holds_user_created;
CREATE TABLE request_log (
  id      INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  at      TEXT    NOT NULL
);
CREATE INDEX request_log_user ON request_log(user_id, at);
CREATE INDEX request_log_at ON request_log(at);
