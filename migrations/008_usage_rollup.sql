-- Closed turns summed by user, UTC day and model, and by day and model for everyone, so reports
-- read a few rows a day instead of every turn ever taken (1M turns took seconds to sum, on the
-- event loop). usage-rollup.ts writes them a minute behind the turns, from the server's sweep,
-- never from a turn: the ledger's hot path is unchanged. Every turn closed before
-- usage_rollup.rolled_until is in them and none after; reports add the turns closed since.
CREATE TABLE usage_daily (
  user_id    INTEGER NOT NULL REFERENCES users(id),
  day        TEXT    NOT NULL CHECK (length(day) = 10),
  model      TEXT    NOT NULL,
  turns      INTEGER NOT NULL CHECK (turns > 0),
  charge     INTEGER NOT NULL CHECK (charge >= 0),
  prompt     INTEGER NOT NULL CHECK (prompt >= 0),
  completion INTEGER NOT NULL CHECK (completion >= 0),
  PRIMARY KEY (user_id, day, model)
) WITHOUT ROWID;
CREATE INDEX usage_daily_day ON usage_daily(day);

CREATE TABLE usage_daily_all (
  day        TEXT    NOT NULL CHECK (length(day) = 10),
  model      TEXT    NOT NULL,
  turns      INTEGER NOT NULL CHECK (turns > 0),
  charge     INTEGER NOT NULL CHECK (charge >= 0),
  prompt     INTEGER NOT NULL CHECK (prompt >= 0),
  completion INTEGER NOT NULL CHECK (completion >= 0),
  PRIMARY KEY (day, model)
) WITHOUT ROWID;

-- '' = nothing rolled up yet (every ISO time sorts after it).
CREATE TABLE usage_rollup (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  rolled_until TEXT    NOT NULL
);
INSERT INTO usage_rollup (id, rolled_until) VALUES (1, '');
