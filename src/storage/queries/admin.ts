// Queries of the admin domain (see queries/index.ts).
import type { Changes, Q } from './shape';

export type AuditAction =
  | 'user_create' | 'grant' | 'deduct' | 'disable' | 'enable' | 'password_reset'
  | 'promote' | 'demote' | 'codes_create' | 'code_void' | 'batch_void' | 'key_revoke'
  | 'order_create' | 'order_paid' | 'order_expired' | 'order_failed' | 'order_refunded' | 'payment_mismatch' | 'order_refund_asked'
  | 'group_create' | 'group_rename' | 'group_delete' | 'group_rules' | 'group_add' | 'group_remove'
  | 'group_allowance' | 'group_limits' | 'group_prompt' | 'user_limits' | 'time_zone'
  | 'roster_import'
  | 'admin_key_create' | 'admin_key_revoke'
  | 'invite_create' | 'invite_revoke' | 'invite_use' | 'user_approve'
  | 'oidc_user_create' | 'oidc_link' | 'oidc_unlink' | 'oidc_map_add' | 'oidc_map_remove' | 'break_glass'
  | 'preset_publish' | 'preset_update' | 'preset_delete';

export interface AdminUserRow {
  id: number;
  username: string;
  role: 'user' | 'admin';
  disabled: number;
  createdAt: string;
  balance: number;
  spent: number;
  turns: number;
  lastUsed: string | null;
}

export interface AuditRow {
  id: number;
  createdAt: string;
  /** Who did it; null: the operator at the command line. */
  actor: string | null;
  action: AuditAction;
  target: string | null;
  targetId: number | null;
  detail: string;
}

export interface AdminQueries {
  /** 1 when the user is an enabled admin, else undefined. */
  'admin.isEnabledAdmin': Q<{ actorId: number }, 1 | undefined>;
  'admin.userState': Q<{ userId: number }, { role: string; disabled: number; session_epoch: number } | undefined>;
  /** Enabled admins other than `userId`. */
  'admin.otherAdmins': Q<{ userId: number }, number>;
  'admin.audit': Q<{ actorId: number | null; action: AuditAction; targetUserId: number | null; detail: string }, Changes>;
  /** Disabling bumps the session epoch, so every session of the user ends at its next request. */
  'admin.disable': Q<{ userId: number }, Changes>;
  'admin.enable': Q<{ userId: number }, Changes>;
  'admin.setRole': Q<{ userId: number; role: 'user' | 'admin' }, Changes>;
  'admin.setPassword': Q<{ userId: number; hash: string }, Changes>;
  'admin.newBatch': Q<{ tokens: number; count: number; expiresAt: string | null; note: string | null; createdBy: number }, number>;
  'admin.searchUsers': Q<{ pattern: string; limit: number; offset: number }, AdminUserRow[]>;
  'admin.user': Q<{ userId: number }, AdminUserRow | undefined>;
  'admin.auditPage': Q<{ target: number | null; limit: number; offset: number }, AuditRow[]>;
  /** How many users there are and the sum of all balances. */
  'admin.totals': Q<Record<string, never>, { users: number; balances: number }>;
}
