// /admin/codes: create a batch (answered with the codes as a CSV download, the one time they exist
// in plain text), list batches and codes with their state, void unused ones. The create form is a
// one-time form (form-id.ts): sent again (a reload of the answer page), it makes no second batch.
import { Router, type Request, type Response } from 'express';
import type { Services } from '../context';
import { AdminError, BATCH_FORM_DAYS, createBatch, voidOneCode, voidUnusedInBatch } from '../../admin/actions';
import { listBatches, listCodes, type CodeState } from '../../ledger/codes';
import { csvLine, startCsv } from '../../reports/csv';
import { wantsJson } from '../errors';
import { codesForm, codesQuery, fieldErrors } from '../input';
import { renderPage } from '../views';
import { idParam } from './guards';
import { confirmedOrAsk } from '../confirm-first';
import { formIdOf, formIssuedAt, newFormId } from '../form-id';

const CODE_COLUMNS = ['code', 'tokens', 'expires_utc', 'batch', 'note'];
/** A form is taken for this long after it was shown; its id is remembered a day longer (BATCH_FORM_DAYS). */
const FORM_MS = (BATCH_FORM_DAYS - 1) * 86_400_000;

/** Whether a form id is one this page issued within FORM_MS (a minute ahead allowed for clocks apart between processes). */
const freshForm = (formId: string, now = Date.now()) => {
  const at = formIssuedAt(formId);
  return at > now - FORM_MS && at < now + 60_000;
};

export function adminCodeRoutes({ database }: Services): Router {
  const router = Router();

  async function codesPage(req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) {
    const { state, batch, page } = codesQuery.parse(req.query);
    const notice = req.query.done === 'void' ? 'code' : req.query.done === 'batch' ? 'batch' : undefined;
    renderPage(req, res, 'admin-codes', {
      title: res.locals.t('admin.codes'), batches: (await database.read(listBatches, 1)).rows,
      codes: await database.read(listCodes, { state: state as CodeState | undefined, batchId: batch }, page),
      filter: { state, batch }, pageNo: page, notice, voided: Number(req.query.n) || 0, formId: newFormId(), ...extra,
    }, status);
  }

  async function refused(req: Request, res: Response, err: AdminError) {
    const message = res.locals.t(`admin.error.${err.code}`, err.vars);
    if (wantsJson(req)) return res.status(422).json({ error: { status: 422, reason: err.code, message } });
    await codesPage(req, res, { actionError: message }, 422);
  }

  /** The form was sent before (its batch was made then) or is too old: nothing is made, and the answer says so. */
  async function notMade(req: Request, res: Response, reason: 'repeated' | 'form_stale') {
    const message = res.locals.t(`codes.${reason}`);
    if (wantsJson(req)) return res.status(409).json({ error: { status: 409, reason, message } });
    if (req.accepts(['text/csv', 'html']) !== 'html') return res.status(409).type('text/plain').send(`${message}\n`);
    await codesPage(req, res, { notMade: message }, 409);
  }

  router.get('/', (req, res) => codesPage(req, res));

  router.post('/', async (req, res) => {
    const parsed = codesForm.safeParse(req.body ?? {});
    if (!parsed.success) {
      const errors = fieldErrors(parsed.error);
      if (wantsJson(req)) return res.status(422).json({ error: { status: 422, fields: errors, message: res.locals.t('error.422') } });
      return codesPage(req, res, { createErrors: errors, createInput: req.body }, 422);
    }
    const { tokens, count, expires, note } = parsed.data;
    const formId = formIdOf(req); // none: a script, which gets a batch for each request
    if (formId !== null && !freshForm(formId)) return notMade(req, res, 'form_stale');
    const made = await createBatch(database, req.user!.id, { tokens, count, expiresAt: expires, note }, formId);
    if (!made) return notMade(req, res, 'repeated');
    const { batchId, codes } = made;
    if (wantsJson(req)) return res.status(201).json({ batch: batchId, tokens, expires_at: expires?.toISOString() ?? null, codes });
    const filename = `tokenchat-codes-batch-${batchId}.csv`;
    const lines = codes.map((code) => csvLine([code, tokens, expires?.toISOString() ?? '', batchId, note ?? '']));
    // A browser's form gets a page saying what was made, its form empty, with the codes to download
    // or copy there (they exist in plain text only in this answer); a script without Accept, the CSV.
    if (req.accepts(['text/csv', 'html']) === 'html') {
      const csv = `\uFEFF${csvLine(CODE_COLUMNS)}${lines.join('')}`;
      const made = { batchId, tokens, count: codes.length, codes, filename, href: `data:text/csv;charset=utf-8;base64,${Buffer.from(csv).toString('base64')}` };
      return codesPage(req, res, { made }, 201);
    }
    startCsv(res, filename, CODE_COLUMNS, 201);
    for (const line of lines) res.write(line);
    res.end();
  });

  router.post('/:id/void', async (req, res) => {
    const { t } = res.locals;
    const id = idParam(req);
    if (!confirmedOrAsk(req, res, () => ({ question: t('confirm.void_code', { id }), detail: t('confirm.void_code_detail'), button: t('admin.code_void'), cancel: '/admin/codes' }))) return;
    try {
      await database.write(voidOneCode, req.user!.id, idParam(req));
    } catch (err) {
      if (err instanceof AdminError) return refused(req, res, err);
      throw err;
    }
    if (wantsJson(req)) return res.json({ voided: 1 });
    res.redirect(303, '/admin/codes?done=void');
  });

  router.post('/batches/:id/void', async (req, res) => {
    const { t } = res.locals;
    const id = idParam(req);
    if (!confirmedOrAsk(req, res, () => ({ question: t('confirm.void_batch', { id }), detail: t('confirm.void_batch_detail'), button: t('admin.batch_void'), cancel: '/admin/codes' }))) return;
    let n: number;
    try {
      n = await database.write(voidUnusedInBatch, req.user!.id, idParam(req));
    } catch (err) {
      if (err instanceof AdminError) return refused(req, res, err);
      throw err;
    }
    if (wantsJson(req)) return res.json({ voided: n });
    res.redirect(303, `/admin/codes?done=batch&n=${n}`);
  });

  return router;
}
