// The words for a turn refused by a limit the organisation set (ledger/org-limits.ts): which rule,
// from which group (or set for this user by the administrator), and when it lifts.
import type { OrgRefusal } from '../ledger/org-limits';
import type { Translate } from '../i18n';

/** The page's status for it: 402 when the tokens of a period are used up, 429 for a rate. */
export const orgRefusalStatus = (r: OrgRefusal): number => (r.rule.startsWith('tokens_') ? 402 : 429);

/** "in 42 seconds", "in 12 minutes", "in 5 hours", "in 3 days": how long until `liftsAt`. */
export function liftsIn(liftsAt: string, t: Translate, now = Date.now()): string {
  const s = Math.max(1, Math.ceil((Date.parse(liftsAt) - now) / 1000));
  if (s < 120) return t('orglimits.in_seconds', { n: s });
  if (s < 120 * 60) return t('orglimits.in_minutes', { n: Math.ceil(s / 60) });
  if (s < 48 * 3600) return t('orglimits.in_hours', { n: Math.ceil(s / 3600) });
  return t('orglimits.in_days', { n: Math.ceil(s / 86400) });
}

/** Where a limit comes from, as a phrase. */
export const limitSource = (group: string | null, t: Translate): string =>
  group === null ? t('orglimits.from_admin') : t('orglimits.from_group', { group });

export function orgRefusalText(r: OrgRefusal, t: Translate, now = Date.now()): string {
  const vars = { limit: r.limit, used: r.used, source: limitSource(r.group, t), zone: r.zone ?? 'UTC', lifts: r.liftsAt === null ? '' : liftsIn(r.liftsAt, t, now) };
  return t(`orglimits.refused.${r.rule}`, vars);
}
