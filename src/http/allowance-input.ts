// The allowance form of a group's page and the organisation's time zone form of /admin/groups: read
// here into what groups/allowances.ts takes. The rules themselves (ranges, the cap at least the
// amount) are checkAllowance's, which the write checks again; a refusal names its field.
import { allowanceSummary } from '../groups/allowance-summary';
import { checkAllowance, AllowanceError, type AllowanceConfig } from '../groups/allowances';
import { serverTimeZone, zoneSetting, type PeriodKind } from '../ledger/periods';
import type { Store } from '../storage/op';

export const ALLOWANCE_FIELDS = ['amount', 'period', 'mode', 'cap', 'join', 'apply'] as const;
export type AllowanceInput = Record<(typeof ALLOWANCE_FIELDS)[number], string>;

const text = (v: unknown, max = 40) => (typeof v === 'string' ? v.slice(0, max) : typeof v === 'number' ? String(v) : '');

/** A whole number as typed (thousands separators allowed); NaN when it is not one, null when empty. */
function whole(raw: string): number | null {
  const t = raw.trim().replace(/[,_\s]/g, '');
  if (t === '' || t.toLowerCase() === 'none') return null;
  return /^\d{1,16}$/.test(t) ? Number(t) : Number.NaN;
}

/**
 * The allowance a form (or the command line) asks for: null when the amount is empty or "none" (the
 * group gives none), else the checked config. Throws AllowanceError naming the field.
 */
export function allowanceFrom(input: AllowanceInput): { config: AllowanceConfig | null; apply: 'now' | 'next' } {
  const apply = input.apply === 'now' ? 'now' : 'next';
  const amount = whole(input.amount);
  if (amount === null) return { config: null, apply };
  const mode = input.mode === '' ? 'reset' : input.mode;
  const cap = mode === 'add' ? whole(input.cap) : null;
  const config = checkAllowance({
    amount, period: (input.period || 'month') as PeriodKind, mode: mode as AllowanceConfig['mode'], cap,
    join: (input.join || 'full') as AllowanceConfig['join'],
  });
  return { config, apply };
}

/** What the form sent, to show it again after an error. */
export function allowanceInput(body: Record<string, unknown>): AllowanceInput {
  const input = {} as AllowanceInput;
  for (const field of ALLOWANCE_FIELDS) input[field] = text(body[field]);
  return input;
}

/** The allowance section of a group's page: the summary (config, people, left, period, top spenders). */
export async function groupAllowanceView(store: Store, groupId: number, query: Record<string, unknown>) {
  return { allowance: await store.read(allowanceSummary, groupId, new Date()), allowanceSaved: query.allowance === 'saved' };
}

/** The time zone form of /admin/groups: the zone periods count in, and the server's (the default). */
export async function zoneView(store: Store, query: Record<string, unknown>) {
  return { orgZone: await store.read(zoneSetting), serverZone: serverTimeZone(), zoneSaved: query.zone === 'saved' };
}

export { AllowanceError };
