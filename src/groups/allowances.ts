// A group's allowance as an administrator sets it (issue 24): an amount per member, a period (day,
// week or month, calendar periods in the organisation's time zone), a mode (reset to the amount, or
// add it up to a cap) and what a member added mid-period gets (all of it, or pro rata). Each change
// is one audited write operation, run by the admin pages and the CLI alike. The buckets themselves
// are the ledger's (ledger/buckets.ts): this module says when to refill, adjust or empty them.
import { asAdmin, recordAudit, type Actor } from '../admin/actions';
import { MAX_AMOUNT } from '../ledger/ledger';
import { adjustBucket, expireGroup, syncUsers, type BucketRow } from '../ledger/buckets';
import { query, type Op } from '../storage/op';
import { GroupError, findGroup, type Group } from './groups';
import { isTimeZone, periodOf, TIME_ZONE_SETTING, organisationZone, zoneChanges, zoneSetting, type PeriodKind, PERIOD_KINDS } from '../ledger/periods';

export interface AllowanceConfig {
  /** Tokens per member per period. */
  amount: number;
  period: PeriodKind;
  mode: 'reset' | 'add';
  /** add mode: the most a bucket may hold (null: no cap). */
  cap: number | null;
  join: 'full' | 'prorata';
}

/** Why an allowance change was refused (the message key is allowance.error.<code>). */
export class AllowanceError extends Error {
  constructor(readonly code: 'amount' | 'cap' | 'period' | 'mode' | 'join' | 'zone', readonly vars: Record<string, number | string> = {}) {
    super(code);
  }
}

/** A group's allowance as set, or null when it gives none. */
export function* allowanceOf(groupId: number): Op<AllowanceConfig | null> {
  const row = yield* query('allowances.config', { groupId });
  if (!row || row.allowance === null) return null;
  return { amount: row.allowance, period: row.period, mode: row.mode, cap: row.cap, join: row.joinRule };
}

/** Checks an allowance as given (from a form or the command line); answers it as kept. */
export function checkAllowance(config: AllowanceConfig): AllowanceConfig {
  const whole = (n: number) => Number.isSafeInteger(n) && n >= 1 && n <= MAX_AMOUNT;
  if (!whole(config.amount)) throw new AllowanceError('amount', { max: MAX_AMOUNT });
  if (!PERIOD_KINDS.includes(config.period)) throw new AllowanceError('period');
  if (config.mode !== 'reset' && config.mode !== 'add') throw new AllowanceError('mode');
  if (config.join !== 'full' && config.join !== 'prorata') throw new AllowanceError('join');
  const cap = config.mode === 'add' ? config.cap : null;
  if (cap !== null && (!whole(cap) || cap < config.amount)) throw new AllowanceError('cap', { amount: config.amount });
  return { ...config, cap };
}

function* requireGroup(id: number): Op<Group> {
  const group = yield* findGroup(id);
  if (!group) throw new GroupError('no_group');
  return group;
}

/**
 * Sets (or, null, removes) a group's allowance. `apply`:
 * - 'now': the members' buckets follow at once. With the same period, the difference between the
 *   new amount and the old is added to (or taken from, never below zero) this period's bucket, once;
 *   with another period, this period ends now and the new one starts (a period already refilled is
 *   never refilled again).
 * - 'next': this period's buckets stay as they are; the new allowance is what the next refill gives.
 * A group that gave no allowance before starts giving it at once, whatever `apply` says; removing
 * an allowance empties its buckets at once (an `expire` row each).
 */
export function* setAllowance(actorId: Actor, groupId: number, config: AllowanceConfig | null, apply: 'now' | 'next', now = new Date()): Op<void> {
  const kept = config && checkAllowance(config);
  yield* asAdmin(actorId);
  const group = yield* requireGroup(groupId);
  const old = yield* allowanceOf(groupId);
  yield* query('allowances.setConfig', {
    groupId, allowance: kept?.amount ?? null, period: kept?.period ?? old?.period ?? 'month', mode: kept?.mode ?? old?.mode ?? 'reset',
    cap: kept?.cap ?? null, joinRule: kept?.join ?? old?.join ?? 'full',
  });
  yield* recordAudit(actorId, 'group_allowance', null, { group: group.name, allowance: kept, was: old, apply });
  if (!kept) {
    yield* expireGroup(groupId, `${group.name}: the allowance was removed`, actorId);
    return;
  }
  const members = group.builtin ? [] : yield* query('allowances.memberIds', { groupId });
  if (!old) {
    yield* syncUsers(members, now);
    return;
  }
  if (apply === 'next') return;
  if (old.period !== kept.period) {
    yield* query('allowances.endNow', { groupId, now: now.toISOString() });
    // Everyone's followers refill at their next turn; a named group's members now.
    yield* syncUsers(members, now);
    return;
  }
  const zone = yield* organisationZone();
  const label = periodOf(kept.period, zone, now).label;
  for (const bucket of yield* query('allowances.ofGroup', { groupId })) {
    if (bucket.label !== label || bucket.endsAt === null || bucket.endsAt <= now.toISOString()) continue;
    let delta = kept.amount - old.amount;
    // In add mode a rise never lifts the bucket past the cap.
    if (delta > 0 && kept.mode === 'add' && kept.cap !== null) delta = Math.min(delta, Math.max(0, kept.cap - bucket.balance));
    const size = kept.mode === 'reset' ? kept.amount : Math.max(bucket.balance + delta, kept.cap ?? 0);
    yield* adjustBucket(bucket.userId, bucket.id, delta, size, actorId, `${group.name}: allowance changed from ${old.amount} to ${kept.amount}`);
  }
}

/** The organisation's time zone, which calendar periods are counted in; changing it applies from each bucket's next refill. */
export function* setTimeZone(actorId: Actor, zone: string): Op<void> {
  if (!isTimeZone(zone)) throw new AllowanceError('zone', { zone: zone.slice(0, 64) });
  yield* asAdmin(actorId);
  const was = yield* zoneSetting();
  yield* query('system.putSetting', { key: TIME_ZONE_SETTING, value: zone });
  yield* recordAudit(actorId, 'time_zone', null, { zone, was });
  zoneChanges.count++;
}

export { zoneSetting } from '../ledger/periods';

/** A group's buckets, for its page: how much of the allowance its members have left this period. */
export function* bucketsOfGroup(groupId: number): Op<BucketRow[]> {
  return yield* query('allowances.ofGroup', { groupId });
}

/** A user's buckets, for the pages that show a balance: group, left, of how much, and when it refills. */
export function* bucketsOfUser(userId: number): Op<BucketRow[]> {
  return yield* query('allowances.ofUser', { userId });
}
