// Queries of accounts: users, roles, disabling (see queries/index.ts).
import type { Q } from './shape';

export type Role = 'user' | 'admin';
/** A user as stored (accounts/users.ts owns the rules). */
export interface User {
  id: number;
  username: string;
  username_key: string;
  role: Role;
  disabled: number;
  session_epoch: number;
  created_at: string;
  /** 'pending': registered under REGISTRATION_MODE=approval and not yet approved; spends nothing. */
  status: 'active' | 'pending';
  /** 1: set by an admin's reset or a roster's generated password; pages send them to /account/password first. */
  must_change_password: number;
  /** The zone the reader's pages show times in; null: the organisation's (http/clock.ts). */
  time_zone: string | null;
}

export interface AccountQueries {
  /** The very first account becomes admin when role is 'auto'; undefined when the name is taken. */
  'accounts.insert': Q<{ username: string; key: string; hash: string; role: Role | 'auto' }, User | undefined>;
  /** Serialises decisions about roles (the first admin, the last admin) across processes; SQLite's write lock already does. */
  'accounts.lockRoles': Q<Record<string, never>, unknown>;
  'accounts.byId': Q<{ id: number }, User | undefined>;
  'accounts.byKey': Q<{ key: string }, User | undefined>;
  'accounts.credentialsByKey': Q<{ key: string }, (User & { password_hash: string | null }) | undefined>;
  'accounts.list': Q<Record<string, never>, User[]>;
  'accounts.setTimeZone': Q<{ id: number; zone: string | null }, unknown>;
  /** Enabled admins other than the one with this key. */
  /** Disabling bumps the session epoch, so every session of the user ends at its next request. */
}
