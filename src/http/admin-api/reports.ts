// Admin API routes for usage reports (by group, by user, group and model, by model; a month, week
// or day in the organisation's time zone) and the audit log. Read-only.
import { periodOf, zoneSetting, type Period, type PeriodKind } from '../../ledger/periods';
import { groupUsage, periodAt } from '../../reports/group-usage';
import { financePage } from '../../reports/finance-page';
import type { ModelRow } from '../../reports/usage-report';
import { query, type Op } from '../../storage/op';
import { wholeOf } from './input';
import { ApiFail, type ApiRoute, type Param } from './table';

const PERIOD: Param[] = [
  { name: 'period', in: 'query', type: 'string', description: 'day, week or month (default month)' },
  { name: 'at', in: 'query', type: 'string', description: 'YYYY-MM-DD: the period holding that date (default now)' },
];

function periodAsked(q: Record<string, unknown>, zone: string, now: Date): Period {
  const kind = (q.period ?? 'month') as PeriodKind;
  if (kind !== 'day' && kind !== 'week' && kind !== 'month') throw new ApiFail(422, 'invalid', 'period must be day, week or month.', 'period');
  if (q.at === undefined) return periodOf(kind, zone, now);
  const at = typeof q.at === 'string' ? /^(\d{4})-(\d{2})-(\d{2})$/.exec(q.at) : null;
  const ok = at && !Number.isNaN(Date.parse(`${q.at as string}T00:00:00Z`)) && new Date(`${q.at as string}T00:00:00Z`).toISOString().startsWith(q.at as string);
  if (!ok) throw new ApiFail(422, 'invalid', 'at must be a date, YYYY-MM-DD.', 'at');
  return periodAt(kind, zone, Number(at[1]), Number(at[2]), Number(at[3]));
}

const periodOut = (p: Period) => ({ label: p.label, starts_at: p.startsAt, ends_at: p.endsAt });

function* auditBefore(before: number | null, target: number | null, limit: number) {
  return yield* query('adminKeys.auditBefore', { before, target, limit });
}

function* modelsSince(since: string): Op<ModelRow[]> {
  return yield* query('reports.byModelOfAll', { since });
}

export const reportRoutes: ApiRoute[] = [
  {
    method: 'get', path: '/reports/groups', scope: 'read', tag: 'reports', query: PERIOD,
    summary: 'Usage by group in a period: turns, tokens, charge, from the allowance, allowance given and left, top spenders',
    handler: async ({ services }, req) => {
      const now = new Date();
      const period = periodAsked(req.query, await services.database.read(zoneSetting), now);
      return { period: periodOut(period), groups: await services.database.read(groupUsage, period, now, 10) };
    },
  },
  {
    method: 'get', path: '/reports/finance', scope: 'read', tag: 'reports',
    query: [{ name: 'month', in: 'query', type: 'string', description: 'YYYY-MM (default this month)' }, { name: 'cursor', in: 'query', type: 'integer' }, { name: 'users', in: 'query', type: 'integer' }],
    summary: "A month's usage by user, group and model (finance's CSV as JSON), a batch of users at a time; next_cursor continues",
    handler: async ({ services }, req) => {
      const zone = await services.database.read(zoneSetting);
      let period = periodOf('month', zone, new Date());
      if (req.query.month !== undefined) {
        const m = typeof req.query.month === 'string' ? /^(\d{4})-(0[1-9]|1[0-2])$/.exec(req.query.month) : null;
        if (!m) throw new ApiFail(422, 'invalid', 'month must be YYYY-MM.', 'month');
        period = periodAt('month', zone, Number(m[1]), Number(m[2]));
      }
      const after = wholeOf(req.query.cursor, 'cursor', 0, Number.MAX_SAFE_INTEGER, 0);
      const users = wholeOf(req.query.users, 'users', 1, 1000, 200);
      const page = await services.database.read(financePage, period, after, users);
      return { period: periodOut(period), rows: page.rows.map((r) => ({ ...r, fromOwnTokens: r.charge - r.fromAllowance })), next_cursor: page.next };
    },
  },
  {
    method: 'get', path: '/reports/models', scope: 'read', tag: 'reports', query: PERIOD, summary: 'Usage by model since the start of a period, everyone together',
    handler: async ({ services }, req) => {
      const period = periodAsked(req.query, await services.database.read(zoneSetting), new Date());
      return { period: periodOut(period), models: await services.database.read(modelsSince, period.startsAt) };
    },
  },
  {
    method: 'get', path: '/audit', scope: 'read', tag: 'audit',
    query: [{ name: 'user', in: 'query', type: 'integer', description: 'only rows about this user' }, { name: 'cursor', in: 'query', type: 'integer' }, { name: 'limit', in: 'query', type: 'integer' }],
    summary: 'The audit log, newest first; api_key_id names the admin key that made a change; next_cursor continues',
    handler: async ({ services }, req) => {
      const limit = wholeOf(req.query.limit, 'limit', 1, 200, 50);
      const before = req.query.cursor === undefined ? null : wholeOf(req.query.cursor, 'cursor', 1, Number.MAX_SAFE_INTEGER);
      const target = req.query.user === undefined ? null : wholeOf(req.query.user, 'user', 1, Number.MAX_SAFE_INTEGER);
      const rows = await services.database.read(auditBefore, before, target, limit + 1);
      const shown = rows.slice(0, limit).map((r) => ({ ...r, detail: JSON.parse(r.detail) as unknown }));
      return { audit: shown, next_cursor: rows.length > limit ? shown[shown.length - 1]!.id : null };
    },
  },
];
