// Queries of invite links and of accounts waiting for approval (see queries/index.ts).
import type { Changes, Q } from './shape';

export interface InviteRow {
  id: number;
  prefix: string;
  note: string | null;
  maxUses: number;
  uses: number;
  expiresAt: string;
  revokedAt: string | null;
  createdAt: string;
  /** Who made it; null: the command line. */
  createdBy: string | null;
}

export interface InviteGroupRow { inviteId: number; groupId: number; name: string }
export interface InviteUseRow { inviteId: number; userId: number; username: string; usedAt: string }
export interface PendingUserRow { id: number; username: string; createdAt: string }

export interface InviteQueries {
  'invites.insert': Q<{ tokenHash: string; prefix: string; note: string | null; maxUses: number; expiresAt: string; createdBy: number | null }, number>;
  'invites.addGroup': Q<{ inviteId: number; groupId: number }, Changes>;
  'invites.byHash': Q<{ hash: string }, InviteRow | undefined>;
  'invites.byId': Q<{ id: number }, InviteRow | undefined>;
  /** Takes one use if the link is live: the id, or undefined (used up, expired or revoked by now). */
  'invites.take': Q<{ id: number; now: string }, number | undefined>;
  'invites.recordUse': Q<{ inviteId: number; userId: number }, Changes>;
  'invites.groupsOf': Q<{ inviteId: number }, number[]>;
  /** The newest links first. */
  'invites.list': Q<{ limit: number }, InviteRow[]>;
  /** Groups and uses of the `limit` newest links. */
  'invites.listGroups': Q<{ limit: number }, InviteGroupRow[]>;
  'invites.listUses': Q<{ limit: number }, InviteUseRow[]>;
  'invites.revoke': Q<{ id: number; now: string }, Changes>;
  'invites.setPending': Q<{ userId: number }, Changes>;
  'invites.approve': Q<{ userId: number }, Changes>;
  /** Accounts waiting for approval and not disabled, oldest first. */
  'invites.pending': Q<Record<string, never>, PendingUserRow[]>;
}
