-- The command line's admin actions (`tokenchat grant`, `tokenchat user disable`) are audited like
-- the admin pages', by no user: actor_id NULL is the operator at the command line.
ALTER TABLE admin_audit ALTER COLUMN actor_id DROP NOT NULL;
