// /admin/usage/groups: usage by group for a period (a month, a week or a day in the organisation's
// time zone), and finance's CSV of a range of months by user, group and model. Mounted under
// adminRoutes, so it answers 404 to everyone but administrators. Read-only.
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Services } from '../context';
import { periodOf, zoneSetting, type Period, type PeriodKind } from '../../ledger/periods';
import { financeCells, financeChunks, FINANCE_HEADER, groupUsage, monthBefore, monthsBetween, periodAt } from '../../reports/group-usage';
import { streamCsv } from '../../reports/csv';
import { renderPage } from '../views';

const month = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/);
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/).refine((d) => {
  const t = Date.parse(`${d}T00:00:00Z`);
  return !Number.isNaN(t) && new Date(t).toISOString().startsWith(d);
});
const forgiving = <T extends z.ZodType>(schema: T) => schema.optional().catch(undefined);

const viewQuery = z.object({
  month: forgiving(month),
  week: forgiving(day),
  day: forgiving(day),
  // The page's day-or-week form: the period of that kind holding the date.
  unit: forgiving(z.enum(['day', 'week'])),
  at: forgiving(day),
  group: forgiving(z.coerce.number().int().min(1)),
});
const csvQuery = z.object({ from: forgiving(month), to: forgiving(month) });

/** Months the CSV covers at most in one download. */
const MAX_MONTHS = 36;

/** The period asked for: a day, a week (the one holding that day), a month; this month when none or malformed. */
function periodAsked(q: z.infer<typeof viewQuery>, zone: string, now: Date): Period {
  const at = (kind: PeriodKind, text: string) => {
    const [y, m, d] = text.split('-').map(Number) as [number, number, number?];
    return periodAt(kind, zone, y, m, d ?? 1);
  };
  if (q.unit && q.at) return at(q.unit, q.at);
  if (q.day) return at('day', q.day);
  if (q.week) return at('week', q.week);
  if (q.month) return at('month', q.month);
  return periodOf('month', zone, now);
}

export function adminGroupUsageRoutes({ database }: Services): Router {
  const router = Router();

  router.get('/groups', async (req: Request, res) => {
    const q = viewQuery.parse(req.query);
    const zone = await database.read(zoneSetting);
    const now = new Date();
    const period = periodAsked(q, zone, now);
    const all = await database.read(groupUsage, period, now, q.group ? 10 : 3);
    const groups = q.group ? all.filter((g) => g.groupId === q.group) : all;
    const thisMonth = periodOf('month', zone, now);
    renderPage(req, res, 'admin-group-usage', {
      title: res.locals.t('group_usage.title'), period, zone, groups, filtered: q.group ?? null,
      thisMonth: thisMonth.label, lastMonth: monthBefore(thisMonth, zone).label, today: periodOf('day', zone, now).label,
      live: period.startsAt <= now.toISOString() && now.toISOString() < period.endsAt,
    });
  });

  router.get('/groups.csv', async (req, res) => {
    const q = csvQuery.parse(req.query);
    const zone = await database.read(zoneSetting);
    const current = periodOf('month', zone, new Date()).label;
    const to = q.to ?? current;
    const from = q.from ?? to;
    const months = monthsBetween(from, to, zone, MAX_MONTHS);
    const next = financeChunks(database, months);
    await streamCsv(res, `tokenchat-usage-${from}-${to}.csv`, FINANCE_HEADER, () => next(), financeCells);
  });

  return router;
}
