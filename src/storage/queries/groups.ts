// Queries of the groups (groups/groups.ts, groups/access.ts; see queries/index.ts).
import type { Changes, Q } from './shape';

/** A group as stored, with how many members it has (the built-in Everyone: none, it has no rows). */
export interface GroupRow {
  id: number;
  name: string;
  /** JSON array of model ids, or null for every model. */
  models: string | null;
  pricePercent: number;
  builtin: number;
  createdAt: string;
  members: number;
}

export interface GroupMemberRow {
  userId: number;
  username: string;
  addedAt: string;
}

/** One group's rules as a turn applies them. */
export interface GroupRuleRow {
  name: string;
  builtin: number;
  models: string | null;
  pricePercent: number;
}

export interface GroupQueries {
  /** Every group, the built-in first, then by name. */
  'groups.list': Q<Record<string, never>, GroupRow[]>;
  'groups.byId': Q<{ id: number }, GroupRow | undefined>;
  'groups.idByName': Q<{ name: string }, number | undefined>;
  /** The new group's id; undefined when the name is taken. */
  'groups.insert': Q<{ name: string }, number | undefined>;
  /** Renames a group that is not the built-in one. */
  'groups.rename': Q<{ id: number; name: string }, Changes>;
  /** Deletes a group that is not the built-in one (its member rows go with it). */
  'groups.delete': Q<{ id: number }, Changes>;
  'groups.setRules': Q<{ id: number; models: string | null; pricePercent: number }, Changes>;
  /** Of the users @ids (a JSON array), those that exist. */
  'groups.existingUsers': Q<{ ids: string }, number[]>;
  /** Adds the users @ids (a JSON array) not yet in the group; answers those added. */
  'groups.addMembers': Q<{ groupId: number; ids: string }, number[]>;
  /** Removes the users @ids (a JSON array) from the group; answers those removed. */
  'groups.removeMembers': Q<{ groupId: number; ids: string }, number[]>;
  'groups.members': Q<{ groupId: number }, GroupMemberRow[]>;
  /** The groups a user is a member of, by name (never the built-in: it has no member rows). */
  'groups.ofUser': Q<{ userId: number }, GroupRow[]>;
  /** The rules that apply to a user: their groups', or Everyone's when they are in none. One read per turn. */
  'groups.rulesOf': Q<{ userId: number }, GroupRuleRow[]>;
}
