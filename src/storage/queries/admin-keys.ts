// Queries of the admin API keys (admin/api-keys.ts; see queries/index.ts).
import type { Changes, Q } from './shape';
import type { AuditAction } from './admin';

export type AdminKeyScope = 'read' | 'write';

/** A key as the API checks it: its scope, its maker, and whether it may still be used. */
export interface AdminKeyRow {
  id: number;
  name: string;
  scope: AdminKeyScope;
  createdBy: number;
  expiresAt: string;
  revokedAt: string | null;
}

/** A key as the keys page lists it. */
export interface AdminKeyListRow extends AdminKeyRow {
  prefix: string;
  last4: string;
  creator: string;
  createdAt: string;
  lastUsedAt: string | null;
  uses: number;
}

/** An audit row as the API gives it: the admin_audit row and the key that made it, if one did. */
export interface ApiAuditRow {
  id: number;
  createdAt: string;
  actor: string | null;
  action: AuditAction;
  target: string | null;
  targetId: number | null;
  detail: string;
  apiKeyId: number | null;
}

export interface AdminKeyQueries {
  'adminKeys.insert': Q<{ createdBy: number; name: string; hash: string; prefix: string; last4: string; scope: AdminKeyScope; expiresAt: string }, number>;
  'adminKeys.byHash': Q<{ hash: string }, AdminKeyRow | undefined>;
  'adminKeys.list': Q<Record<string, never>, AdminKeyListRow[]>;
  'adminKeys.revoke': Q<{ id: number; now: string }, Changes>;
  /** Counts one request with the key and marks it used now. */
  'adminKeys.touch': Q<{ id: number; now: string }, Changes>;
  /** The newest audit row's id (0 when none), read before an operation run with a key. */
  'adminKeys.lastAudit': Q<Record<string, never>, number>;
  /** Names the key on the audit rows this transaction wrote after @after. */
  'adminKeys.tagAudit': Q<{ keyId: number; after: number }, Changes>;
  /** The audit log newest first, from before id @before (null: the newest), optionally about one user. */
  'adminKeys.auditBefore': Q<{ before: number | null; target: number | null; limit: number }, ApiAuditRow[]>;
}
