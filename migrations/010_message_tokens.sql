-- Each message's own share of a prompt's tokens (framing, role and content, as
-- countMessageTokens gives it), counted once when its content is written, so that fitting a
-- long history to a context window sums stored counts instead of recounting the history.
-- tokens_encoding says what the count holds for (a model of another encoding recounts); rows from
-- before this migration, and answers until a later turn counts them, have neither.
ALTER TABLE messages ADD COLUMN tokens INTEGER CHECK (tokens IS NULL OR tokens >= 0);
ALTER TABLE messages ADD COLUMN tokens_encoding TEXT CHECK ((tokens IS NULL) = (tokens_encoding IS NULL));
