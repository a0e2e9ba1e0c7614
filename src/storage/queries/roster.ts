// Queries of a roster import (accounts/roster.ts) and of a person changing their own password
// (accounts/own-password.ts). See queries/index.ts.
import type { Changes, Q } from './shape';

/** An account a roster names, and whether it is already in the group. */
export interface RosterUserRow {
  id: number;
  key: string;
  inGroup: number;
}

export interface RosterQueries {
  /** The accounts among @keys (a JSON array of username keys), with their membership of @groupId. */
  'roster.usersByKeys': Q<{ keys: string; groupId: number }, RosterUserRow[]>;
  /** A member's account with its profile; undefined when the name was taken meanwhile. */
  'roster.insertUser': Q<{ username: string; key: string; hash: string; displayName: string | null; email: string | null; mustChange: number }, number | undefined>;
  /** The stored hash of one account (null: it signs in only through the organisation's provider). */
  'account.passwordHash': Q<{ id: number }, { password_hash: string | null; session_epoch: number } | undefined>;
  /** A new password from its owner: the other sessions end (epoch + 1), a forced change is done. Only if the epoch is still @epoch. */
  'account.setOwnPassword': Q<{ id: number; hash: string; epoch: number }, number | undefined>;
  /** Set by an admin's reset when ticked. */
  'account.setMustChange': Q<{ id: number; mustChange: number }, Changes>;
}
