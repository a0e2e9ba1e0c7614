-- Issue 26: the time zone a reader's pages show times in without JavaScript (with it, the browser's
-- own, unless this is set). NULL: the organisation's zone (app_settings time_zone, else the server's).
ALTER TABLE users ADD COLUMN time_zone TEXT CHECK (time_zone IS NULL OR length(time_zone) BETWEEN 1 AND 64);
