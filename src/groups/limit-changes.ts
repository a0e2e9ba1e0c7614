// Setting the limits an administrator sets (groups/limits.ts): a group's, and one user's. Each is
// one write operation with its audit row, run by the admin pages and the CLI alike.
import { asAdmin, AdminError, recordAudit, type Actor } from '../admin/actions';
import { query, type Op } from '../storage/op';
import { findGroup, GroupError } from './groups';
import { checkLimits, type Limits } from '../ledger/limit-rules';

/** Sets a group's five limits (null: none); Everyone's too. */
export function* setGroupLimits(actorId: Actor, groupId: number, limits: Limits): Op<void> {
  const kept = checkLimits(limits);
  yield* asAdmin(actorId);
  const group = yield* findGroup(groupId);
  if (!group) throw new GroupError('no_group');
  yield* query('orgLimits.setGroup', { groupId, ...kept });
  yield* recordAudit(actorId, 'group_limits', null, { group: group.name, ...kept });
}

/** Sets the limits an administrator sets for one user (null: their groups' apply). */
export function* setUserLimits(actorId: Actor, userId: number, limits: Limits): Op<void> {
  const kept = checkLimits(limits);
  yield* asAdmin(actorId);
  if (!(yield* query('admin.userState', { userId }))) throw new AdminError('no_user');
  yield* query('orgLimits.setUser', { userId, ...kept });
  yield* recordAudit(actorId, 'user_limits', userId, kept);
}
