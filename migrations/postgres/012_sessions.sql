-- PostgreSQL only: sign-in sessions (connect-pg-simple's table), shared by every server process.
-- SQLite keeps them in DATA_DIR/sessions.sqlite instead. Created here rather than by the store,
-- so ten processes starting at once do not race to create it.
CREATE TABLE sessions (
  sid    VARCHAR NOT NULL PRIMARY KEY,
  sess   JSON NOT NULL,
  expire TIMESTAMP(6) NOT NULL
);
CREATE INDEX sessions_expire ON sessions (expire);
