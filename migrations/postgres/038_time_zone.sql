-- Issue 26: the time zone a reader's pages show times in (see the SQLite migration of the same number).
ALTER TABLE users ADD COLUMN time_zone TEXT CHECK (time_zone IS NULL OR length(time_zone) BETWEEN 1 AND 64);
