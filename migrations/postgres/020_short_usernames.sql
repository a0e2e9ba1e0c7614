-- Usernames of two characters (many Chinese names are two: 小明, 张伟).
ALTER TABLE users DROP CONSTRAINT users_username_check, ADD CONSTRAINT users_username_check CHECK (length(username) BETWEEN 2 AND 32);
