-- The sidebar marks conversations with an answer being written: a small index of those messages.
CREATE INDEX messages_streaming ON messages(conversation_id) WHERE status = 'streaming';
