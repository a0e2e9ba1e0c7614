-- The hidden (reasoning) tokens the provider reported for an answer, when it reported any:
-- the message footer says the charge includes them.
ALTER TABLE messages ADD COLUMN reasoning_tokens INTEGER CHECK (reasoning_tokens >= 0);
