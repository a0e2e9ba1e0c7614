// The limits forms (a group's, and the administrator's for one user): five fields, each a whole
// number or empty for none. Read here into values, every field's error at once; the range itself
// is the rule of groups/limits.ts (checkLimits), which the write checks again.
import { LIMIT_FIELDS, LIMIT_MAX, NO_LIMITS, type LimitField, type Limits } from '../ledger/limit-rules';
import { appliedLimitsOf, groupLimitsOf, userLimitsOf } from '../ledger/limit-rules';
import { zoneSetting } from '../ledger/periods';
import type { Store } from '../storage/op';

export type LimitsInput = Record<LimitField, string>;

/** The form's values, or the fields that are not a whole number from 1 to LIMIT_MAX (or empty). */
export function limitsFrom(body: Record<string, unknown>): { limits: Limits; errors?: Partial<Record<LimitField, true>> } {
  const limits = { ...NO_LIMITS };
  const errors: Partial<Record<LimitField, true>> = {};
  for (const field of LIMIT_FIELDS) {
    const raw = body[field];
    const text = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim().replace(/[,_\s]/g, '') : raw === undefined || raw === null ? '' : '?';
    if (text === '' || text.toLowerCase() === 'none') continue;
    const n = /^\d{1,13}$/.test(text) ? Number(text) : Number.NaN;
    if (Number.isSafeInteger(n) && n >= 1 && n <= LIMIT_MAX) limits[field] = n;
    else errors[field] = true;
  }
  return Object.keys(errors).length ? { limits, errors } : { limits };
}

/** What the form showed, to show it again after an error. */
export function limitsInput(body: Record<string, unknown>): LimitsInput {
  const input = {} as LimitsInput;
  for (const field of LIMIT_FIELDS) input[field] = typeof body[field] === 'string' ? body[field].slice(0, 20) : typeof body[field] === 'number' ? String(body[field]) : '';
  return input;
}

/** The limits form of a group's page: its values and the organisation's zone (per day and month count in it). */
export async function groupLimitsView(store: Store, groupId: number, query: Record<string, unknown>) {
  return { groupLimits: await store.read(groupLimitsOf, groupId), zone: await store.read(zoneSetting), limitsSaved: query.limits === 'saved' };
}

/** The admin's user page: the limits set for this user, and those that apply with where each comes from. */
export async function userLimitsView(store: Store, userId: number, query: Record<string, unknown>) {
  return { userLimits: await store.read(userLimitsOf, userId), appliedLimits: await store.read(appliedLimitsOf, userId), limitsSaved: query.limits === 'saved' };
}

export { LIMIT_FIELDS, LIMIT_MAX };
