-- One user's admin audit rows, as the admin user page lists them.
CREATE INDEX admin_audit_target ON admin_audit(target_user_id, id) WHERE target_user_id IS NOT NULL;
