-- Settings every server process on this database must agree on, such as the sha256 of the
-- models file in use (prices must not differ between hosts).
CREATE TABLE app_settings (
  key        TEXT COLLATE "C" PRIMARY KEY,
  value      TEXT COLLATE "C" NOT NULL,
  updated_at TEXT COLLATE "C" NOT NULL DEFAULT iso_now()
);
