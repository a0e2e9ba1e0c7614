// A user's own tokens: the Usage page, the dashboard partial, the ledger (page and CSV), spend
// limits, and GET /tokens for scripts.
import { Router, type Request, type Response } from 'express';
import type { Services } from '../context';
import { chargeChart } from '../../reports/chart';
import { streamCsv } from '../../reports/csv';
import { wantsJson } from '../errors';
import { fieldErrors, ledgerQuery, limitsForm } from '../input';
import { appliedLimitsOf } from '../../ledger/limit-rules';
import { getSpendLimits, setSpendLimits, spentToday } from '../../ledger/spend-limits';
import { dashboardData, LEDGER_KINDS, summary, userSummary, type LedgerFilter } from '../../reports/usage-report';
import { bucketLedgerChunks, bucketLedgerPage, bucketsOf, type BucketLedgerRow } from '../../reports/bucket-ledger';
import { periodName, refillDate } from '../../reports/period-names';
import { zoneSetting } from '../../ledger/periods';
import { balanceOf } from '../../ledger/ledger';
import { renderPage } from '../views';
import { signedIn, signedInJson } from './guards';
import { accessOf } from '../../groups/access';

/** Where a charge came from: its message in the chat, when the turn recorded one. */
export function messageLink(row: { conversationId: number | null; messageId: number | null }): string | null {
  if (row.conversationId === null) return null;
  return `/c/${row.conversationId}${row.messageId === null ? '' : `#m${row.messageId}`}`;
}

const CSV_HEADER = [
  'id', 'time_utc', 'kind', 'amount', 'balance_after', 'model', 'prompt_tokens', 'completion_tokens', 'cached_tokens', 'reasoning_tokens', 'provider',
  'conversation_id', 'message_id', 'api_key', 'note', 'bucket',
];
// bucket: 'own' for own tokens, else the group whose allowance the row is (its amounts sum to that bucket's balance).
const csvCells = (r: BucketLedgerRow) => [
  r.id, r.createdAt, r.kind, r.amount, r.balanceAfter, r.model, r.promptTokens, r.completionTokens, r.cachedTokens, r.reasoningTokens, r.provider,
  r.conversationId, r.messageId, r.apiKey, r.note, r.bucket ?? 'own',
];

export function usageRoutes({ database }: Services): Router {
  const router = Router();

  async function usagePage(req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) {
    const userId = req.user!.id;
    const report = await database.read(userSummary, userId);
    const data = {
      title: res.locals.t('usage.title'), ...report, chart: chargeChart(report.daily),
      limits: await database.read(getSpendLimits, userId), orgLimits: await database.read(appliedLimitsOf, userId), ...extra,
      // The groups whose rules the user's turns follow; none shown for Everyone's when left as they were.
      groups: (await database.read(accessOf, userId)).rules.filter((r) => !r.builtin || r.models !== null || r.pricePercent !== 100),
      buckets: await database.read(bucketsOf, userId), zone: await database.read(zoneSetting), refillDate,
    };
    renderPage(req, res, 'usage', data, status);
  }

  router.get('/usage', signedIn, async (req, res) => usagePage(req, res, { saved: req.query.saved === 'limits' }));

  router.get('/dashboard', signedIn, async (req, res) => {
    renderPage(req, res, 'dashboard', { title: res.locals.t('dashboard.title'), dashboard: await database.read(dashboardData, req.user!.id) });
  });

  router.post('/usage/limits', signedIn, async (req, res) => {
    const parsed = limitsForm.safeParse(req.body ?? {});
    if (!parsed.success) {
      const errors = fieldErrors(parsed.error);
      if (wantsJson(req)) return res.status(422).json({ error: { status: 422, fields: errors, message: res.locals.t('error.422') } });
      return usagePage(req, res, { limitErrors: errors, limitInput: req.body }, 422);
    }
    const limits = { perMessage: parsed.data.per_message, perDay: parsed.data.per_day };
    await database.write(setSpendLimits, req.user!.id, limits);
    if (wantsJson(req)) return res.json({ limits });
    res.redirect(303, '/usage?saved=limits#limits');
  });

  router.get('/usage/ledger', signedIn, async (req, res) => {
    const { page, ...filter } = ledgerQuery.parse(req.query);
    const result = await database.read(bucketLedgerPage, req.user!.id, filter, page);
    renderPage(req, res, 'ledger', {
      title: res.locals.t('ledger.title'), ...result, filter, pageNo: page, messageLink, kinds: LEDGER_KINDS, folded: !filter.kind, periodName,
    });
  });

  router.get('/usage/ledger.csv', signedIn, async (req, res) => {
    const { page: _page, ...filter } = ledgerQuery.parse(req.query);
    const userId = req.user!.id;
    const next = bucketLedgerChunks(database, userId, filter as LedgerFilter);
    await streamCsv(res, `tokenchat-ledger-${req.user!.username_key}.csv`, CSV_HEADER, () => next(), csvCells);
  });

  router.get('/tokens', signedInJson, async (req, res) => {
    const userId = req.user!.id;
    const report = await database.read(summary, userId);
    const limits = await database.read(getSpendLimits, userId);
    const balance = await database.read(balanceOf, userId);
    const spent = await database.read(spentToday, userId);
    res.json({
      balance,
      spent: { today: report.today, month: report.month, total: report.total.charge },
      tokens: { prompt: report.total.prompt, completion: report.total.completion, turns: report.total.turns },
      by_model: report.byModel.map((m) => ({ model: m.model, turns: m.turns, prompt: m.prompt, completion: m.completion, charge: m.charge })),
      daily: report.daily.map((d) => ({ day: d.day, charge: d.charge, prompt: d.prompt, completion: d.completion })),
      limits: { per_message: limits.perMessage, per_day: limits.perDay, spent_today: spent },
    });
  });

  return router;
}
