-- The command line's admin actions (`tokenchat grant`, `tokenchat user disable`) are audited like
-- the admin pages', by no user: actor_id NULL is the operator at the command line. An admin
-- revoking a user's API key (017) is audited too.
ALTER TABLE admin_audit ALTER COLUMN actor_id DROP NOT NULL;
ALTER TABLE admin_audit DROP CONSTRAINT admin_audit_action_check, ADD CONSTRAINT admin_audit_action_check CHECK (action IN (
  'user_create', 'grant', 'deduct', 'disable', 'enable', 'password_reset', 'promote', 'demote', 'codes_create', 'code_void',
  'batch_void', 'key_revoke'));
