-- Retry and Edit on any question keep the earlier answer (or question) as a branch: each message
-- names the one before it (parent_id), and a conversation the last message of the thread it shows
-- (leaf_id). Until now each conversation was one line, each message following the one before it.
ALTER TABLE messages ADD COLUMN parent_id INTEGER;
ALTER TABLE conversations ADD COLUMN leaf_id INTEGER;
UPDATE messages SET parent_id = (SELECT max(p.id) FROM messages p WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id);
UPDATE conversations SET leaf_id = (SELECT max(m.id) FROM messages m WHERE m.conversation_id = conversations.id);
