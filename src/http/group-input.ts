// What the group forms send, read as the admin pages and the tests send it (form strings; a JSON
// client may send the same shapes). The rules themselves (name length, percent range, known models)
// are checked once, by groups/groups.ts; this only turns form fields into their values.
import type { GroupRules } from '../groups/groups';

/** A text field as sent, at most `max` characters; '' when absent or not text. */
export function textOf(form: Record<string, unknown>, field: string, max = 200): string {
  const value = form[field];
  return typeof value === 'string' ? value.slice(0, max) : '';
}

/** Checkboxes: absent, one value or several. */
function listOf(value: unknown): string[] {
  if (value === undefined || value === null || value === '') return [];
  return (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string');
}

/**
 * The rules form: "every model" (scope=all) or the models ticked (none ticked: no model at all),
 * and the percent. A percent that is not a plain whole number is NaN, which the rules refuse.
 */
export function rulesFrom(body: Record<string, unknown>): GroupRules {
  const raw = body.price_percent;
  const text = typeof raw === 'number' ? String(raw) : textOf(body, 'price_percent', 12).trim();
  const pricePercent = /^\d{1,4}$/.test(text) ? Number(text) : Number.NaN;
  return { models: body.scope === 'all' ? null : listOf(body.models).slice(0, 500), pricePercent };
}

/** What the rules form showed, to show it again after an error. */
export function rulesInput(body: Record<string, unknown>): { scope: string; models: string[]; price_percent: string } {
  return { scope: body.scope === 'all' ? 'all' : 'listed', models: listOf(body.models), price_percent: textOf(body, 'price_percent', 12) };
}

/** The users ticked (user ids); undefined when one is not an id at all. */
export function userIdsFrom(body: Record<string, unknown>): number[] | undefined {
  const ids = listOf(body.users).slice(0, 1000).map((v) => (/^\d{1,15}$/.test(v) ? Number(v) : Number.NaN));
  return ids.every((id) => Number.isSafeInteger(id) && id > 0) ? ids : undefined;
}
