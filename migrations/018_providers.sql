-- Several providers: which provider (and its name for the model) served a turn, the prompt tokens
-- it served from its cache and the hidden reasoning tokens it reported. A cached prompt token is
-- charged at the model's cached rate, kept on the hold with its other rates (NULL on holds taken
-- before: the prompt rate).
ALTER TABLE holds ADD COLUMN cached_rate INTEGER CHECK (cached_rate >= 0);
ALTER TABLE holds ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0 CHECK (cached_tokens >= 0);
ALTER TABLE holds ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0 CHECK (reasoning_tokens >= 0);
ALTER TABLE holds ADD COLUMN provider TEXT;
ALTER TABLE holds ADD COLUMN upstream_model TEXT;
-- The message footer says how many of its prompt tokens were cached, and by whom it was answered.
ALTER TABLE messages ADD COLUMN cached_tokens INTEGER CHECK (cached_tokens >= 0);
ALTER TABLE messages ADD COLUMN provider TEXT;
