-- Issue 25: what an account needs beyond a username and a password (see the SQLite migration of
-- the same number): no password for accounts made through the organisation's OpenID provider,
-- display name, email, approval, a forced password change, break-glass password sign-in.
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE users ADD COLUMN display_name TEXT CHECK (display_name IS NULL OR length(display_name) BETWEEN 1 AND 100);
ALTER TABLE users ADD COLUMN email TEXT COLLATE "C" CHECK (email IS NULL OR length(email) BETWEEN 3 AND 254);
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1));
ALTER TABLE users ADD COLUMN status TEXT COLLATE "C" NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'pending'));
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1));
ALTER TABLE users ADD COLUMN break_glass INTEGER NOT NULL DEFAULT 0 CHECK (break_glass IN (0, 1));
CREATE INDEX users_email ON users(email) WHERE email IS NOT NULL;
CREATE INDEX users_pending ON users(created_at) WHERE status = 'pending';

-- The audit's actions are checked by the code (AuditAction); the table keeps only a sane length.
ALTER TABLE admin_audit DROP CONSTRAINT admin_audit_action_check, ADD CONSTRAINT admin_audit_action_check CHECK (length(action) BETWEEN 1 AND 40);
