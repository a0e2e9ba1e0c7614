-- Throttle counters (sign-in, redemption, estimates) shared by every server process on the
-- database: a key's hits in its current window, which ends at reset_at.
CREATE TABLE rate_limits (
  key      TEXT PRIMARY KEY CHECK (length(key) <= 300),
  hits     INTEGER NOT NULL CHECK (hits >= 0),
  reset_at TEXT NOT NULL
);
CREATE INDEX rate_limits_reset ON rate_limits(reset_at);
