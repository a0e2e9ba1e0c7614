// Groups and their members (issue 24): what administrators do to them, each change one write
// operation (storage/op.ts) with its audit row, run by the admin pages and the CLI alike
// (`store.write(createGroup, actorId, 'Class 3')`). The rules a group sets are applied by
// access.ts; this module only keeps them. The built-in group "Everyone" holds the rules for people
// in no group: it has no member rows, and it is never renamed or deleted.
import { asAdmin, recordAudit, type Actor } from '../admin/actions';
import { expireGroup, syncUsers } from '../ledger/buckets';
import { query, type Op } from '../storage/op';
import type { GroupMemberRow, GroupRow } from '../storage/queries/groups';

export type { GroupMemberRow } from '../storage/queries/groups';

/** Why a group change was refused; `code` is the message key suffix (groups.error.<code>). */
export class GroupError extends Error {
  constructor(
    readonly code: 'duplicate_name' | 'bad_name' | 'builtin' | 'no_group' | 'unknown_model' | 'percent_range' | 'no_user' | 'prompt_long' | 'prompt_lock_empty',
    readonly vars: Record<string, number | string> = {},
  ) {
    super(code);
  }
}

export interface Group {
  id: number;
  name: string;
  /** The model ids its members may use; null: every model. */
  models: string[] | null;
  /** The percent of a model's rates its members pay (100: the price as listed). */
  pricePercent: number;
  /** The built-in "Everyone": the rules for people in no group. */
  builtin: boolean;
  createdAt: string;
  members: number;
}

export interface GroupRules {
  models: string[] | null;
  pricePercent: number;
}

export const NAME_MAX = 60;
export const PERCENT_MIN = 1;
export const PERCENT_MAX = 1000;

/** A stored models column as the list it is (null: every model). */
export function parseModels(json: string | null): string[] | null {
  return json === null ? null : (JSON.parse(json) as string[]);
}

const toGroup = (row: GroupRow): Group => ({ ...row, models: parseModels(row.models), builtin: row.builtin === 1 });

export function* listGroups(): Op<Group[]> {
  return (yield* query('groups.list', {})).map(toGroup);
}

export function* findGroup(id: number): Op<Group | undefined> {
  const row = yield* query('groups.byId', { id });
  return row && toGroup(row);
}

/** The groups a user is a member of (none: Everyone's rules apply to them). */
export function* groupsOf(userId: number): Op<Group[]> {
  return (yield* query('groups.ofUser', { userId })).map(toGroup);
}

export function* membersOf(id: number): Op<GroupMemberRow[]> {
  return yield* query('groups.members', { groupId: id });
}

function* requireGroup(id: number): Op<Group> {
  const group = yield* findGroup(id);
  if (!group) throw new GroupError('no_group');
  return group;
}

/** A name as kept: trimmed, 1 to 60 characters, and no other group's. */
function* freeName(name: string, id: number | null): Op<string> {
  const trimmed = name.trim();
  if ([...trimmed].length < 1 || [...trimmed].length > NAME_MAX) throw new GroupError('bad_name', { max: NAME_MAX });
  const holder = yield* query('groups.idByName', { name: trimmed });
  if (holder !== undefined && holder !== id) throw new GroupError('duplicate_name', { name: trimmed });
  return trimmed;
}

/** Creates an empty group (every model, at the listed price) and answers its id. A write operation. */
export function* createGroup(actorId: Actor, name: string): Op<number> {
  yield* asAdmin(actorId);
  const kept = yield* freeName(name, null);
  const id = yield* query('groups.insert', { name: kept });
  if (id === undefined) throw new GroupError('duplicate_name', { name: kept });
  yield* recordAudit(actorId, 'group_create', null, { group: kept });
  return id;
}

export function* renameGroup(actorId: Actor, id: number, name: string): Op<void> {
  yield* asAdmin(actorId);
  const group = yield* requireGroup(id);
  if (group.builtin) throw new GroupError('builtin');
  const kept = yield* freeName(name, id);
  yield* query('groups.rename', { id, name: kept });
  yield* recordAudit(actorId, 'group_rename', null, { group: kept, was: group.name });
}

/** Deletes a group and its memberships; turns already running keep the terms they started with. */
export function* deleteGroup(actorId: Actor, id: number, now = new Date()): Op<void> {
  yield* asAdmin(actorId);
  const group = yield* requireGroup(id);
  if (group.builtin) throw new GroupError('builtin');
  const members = yield* query('allowances.memberIds', { groupId: id });
  yield* expireGroup(id, `${group.name} was deleted`, actorId);
  yield* query('groups.delete', { id });
  yield* syncUsers(members, now); // Everyone's allowance for those left in no group
  yield* recordAudit(actorId, 'group_delete', null, { group: group.name, members: group.members });
}

/**
 * Sets the models a group's members may use (null: every model; each id must be among `known`
 * when given, the server's models) and the percent of the rates they pay.
 */
export function* setGroupRules(actorId: Actor, id: number, rules: GroupRules, known?: readonly string[]): Op<void> {
  const { pricePercent } = rules;
  if (!Number.isInteger(pricePercent) || pricePercent < PERCENT_MIN || pricePercent > PERCENT_MAX) {
    throw new GroupError('percent_range', { min: PERCENT_MIN, max: PERCENT_MAX });
  }
  const models = rules.models && [...new Set(rules.models)];
  const unknown = models && known ? models.filter((m) => !known.includes(m)) : [];
  if (unknown.length > 0) throw new GroupError('unknown_model', { model: unknown.join(', ') });
  yield* asAdmin(actorId);
  const group = yield* requireGroup(id);
  yield* query('groups.setRules', { id, models: models && JSON.stringify(models), pricePercent });
  yield* recordAudit(actorId, 'group_rules', null, { group: group.name, models, percent: pricePercent });
}

/** Checks the users exist and the group can have members; the distinct ids. */
function* memberChange(actorId: Actor, id: number, userIds: readonly number[]): Op<{ group: Group; ids: number[] }> {
  yield* asAdmin(actorId);
  const group = yield* requireGroup(id);
  if (group.builtin) throw new GroupError('builtin');
  const ids = [...new Set(userIds)];
  const found = new Set(ids.length ? yield* query('groups.existingUsers', { ids: JSON.stringify(ids) }) : []);
  const missing = ids.filter((u) => !found.has(u));
  if (missing.length > 0) throw new GroupError('no_user', { ids: missing.join(', ') });
  return { group, ids };
}

/** Adds users to a group (those already in are left as they are); answers those added, each audited (`signIn`: the provider whose claims did it). */
export function* addMembers(actorId: Actor, id: number, userIds: readonly number[], now = new Date(), signIn?: string): Op<number[]> {
  const { group, ids } = yield* memberChange(actorId, id, userIds);
  if (ids.length === 0) return [];
  const added = yield* query('groups.addMembers', { groupId: id, ids: JSON.stringify(ids) });
  for (const userId of added) yield* recordAudit(actorId, 'group_add', userId, { group: group.name, ...(signIn ? { signIn } : {}) });
  // Their allowance from the group at once (and what Everyone gave them, if this is their first group, ends).
  yield* syncUsers(added, now);
  return added;
}

/** Removes users from a group; answers those removed, each audited. Their running turns finish on their terms. */
export function* removeMembers(actorId: Actor, id: number, userIds: readonly number[], now = new Date(), signIn?: string): Op<number[]> {
  const { group, ids } = yield* memberChange(actorId, id, userIds);
  if (ids.length === 0) return [];
  const removed = yield* query('groups.removeMembers', { groupId: id, ids: JSON.stringify(ids) });
  for (const userId of removed) yield* recordAudit(actorId, 'group_remove', userId, { group: group.name, ...(signIn ? { signIn } : {}) });
  // What is left of the group's allowance goes with the membership (an `expire` row).
  yield* syncUsers(removed, now);
  return removed;
}
