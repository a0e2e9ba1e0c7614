// A group's roster import, under /admin/groups/:id/roster: the CSV pasted or chosen as a file (read
// by the browser into the same textarea: no multipart parser), a dry run listing what would happen
// row by row, then the apply, which carries the file and the dry run's digest and refuses if the
// plan it makes now differs. Generated passwords come back sealed in the result page, for one
// download (a second is refused, on any process) (groups/roster-passwords.ts). The rules are in groups/roster.ts.
import crypto from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import type { Services } from '../context';
import { applyRoster, planRoster, RosterError, ROSTER_MAX_ROWS, type RosterPlan } from '../../groups/roster';
import { openPasswords, sealPasswords } from '../../groups/roster-passwords';
import { findGroup } from '../../groups/groups';
import { csvLine, startCsv } from '../../reports/csv';
import { HttpError } from '../http-error';
import { bodyOf } from '../input';
import { renderPage } from '../views';
import { idParam } from './guards';
import { query } from '../../storage/op';

/** 1,000 rows of four columns fit well within this; the body limit (BODY_LIMIT) is larger still. */
const TEXT_MAX = 512 * 1024;

export function groupRosterRoutes({ config, database, hasher, sessionSecret }: Services): Router {
  const router = Router();

  async function page(req: Request, res: Response, id: number, extra: Record<string, unknown>, status = 200) {
    const group = await database.read(findGroup, id);
    if (!group || group.builtin) throw new HttpError(404);
    renderPage(req, res, 'group-roster', { title: res.locals.t('roster.title', { group: group.name }), group, max: ROSTER_MAX_ROWS, ...extra }, status);
  }

  function textOf(req: Request): string {
    const text = bodyOf(req).roster;
    if (typeof text !== 'string') return '';
    if (text.length > TEXT_MAX) throw new RosterError('too_many', { max: ROSTER_MAX_ROWS, n: `> ${ROSTER_MAX_ROWS.toLocaleString('en')}` });
    // As a browser sends a textarea (CRLF), and without the blank lines a textarea drops or adds at its start.
    return text.replace(/\r\n?/g, '\n').replace(/^\n+/, '');
  }

  /** A refusal of the whole file, shown on the form with what was pasted. */
  async function refused(req: Request, res: Response, id: number, err: unknown, text: string) {
    if (!(err instanceof RosterError)) throw err;
    if (err.code === 'no_group' || err.code === 'builtin') throw new HttpError(404);
    const vars = Object.fromEntries(Object.entries(err.vars).map(([k, v]) => [k, typeof v === 'number' ? v.toLocaleString(res.locals.locale) : v]));
    const message = res.locals.t(`roster.error.${err.code}`, vars);
    return page(req, res, id, { rosterError: message, text: err.code === 'changed' ? '' : text }, err.code === 'changed' ? 409 : 422);
  }

  router.get('/:id/roster', (req, res) => page(req, res, idParam(req), { text: '' }));

  router.post('/:id/roster/check', async (req, res) => {
    const id = idParam(req);
    let text = '';
    let plan: RosterPlan;
    try {
      text = textOf(req);
      plan = await planRoster(database, id, text);
    } catch (err) {
      return refused(req, res, id, err, text.slice(0, TEXT_MAX));
    }
    await page(req, res, id, { text, plan });
  });

  router.post('/:id/roster/apply', async (req, res) => {
    const id = idParam(req);
    const digest = bodyOf(req).digest;
    if (typeof digest !== 'string' || digest === '') throw new HttpError(400); // no form of ours omits it
    let text = '';
    try {
      text = textOf(req);
      const result = await applyRoster(database, hasher, {
        actorId: req.user!.id, groupId: id, text, expected: digest, signupBonus: config.signupBonus, concurrency: config.hashConcurrency,
      });
      const sealed = result.generated.length ? sealPasswords(sessionSecret, req.user!.id, id, result.generated) : undefined;
      await page(req, res, id, { text: '', plan: result.plan, applied: true, sealed, generatedCount: result.generated.length });
    } catch (err) {
      return refused(req, res, id, err, text);
    }
  });

  // The generated passwords, once: opened from the sealed field of the result page (POST, so never in a URL or a log).
  router.post('/:id/roster/passwords', async (req, res) => {
    const id = idParam(req);
    const sealed = bodyOf(req).sealed;
    const rows = typeof sealed === 'string' ? openPasswords(sessionSecret, req.user!.id, id, sealed) : undefined;
    if (!rows || !(await firstDownload(sealed as string))) throw new HttpError(410, 'roster.error.sealed');
    startCsv(res, `passwords-group-${id}.csv`, ['username', 'password']);
    for (const r of rows) res.write(csvLine([r.username, r.password]));
    res.end();
  });

  /**
   * Whether this is the first download of these sealed passwords, on any process: the seal is
   * counted in the database's throttle table until long after it expires (the sweep forgets it).
   */
  async function firstDownload(sealed: string): Promise<boolean> {
    const key = `roster-passwords:${crypto.createHash('sha256').update(sealed).digest('hex')}`;
    const now = new Date();
    const { hits } = await database.write(function* () {
      return yield* query('limits.hit', { key, now: now.toISOString(), resetAt: new Date(now.getTime() + 2 * 3_600_000).toISOString() });
    });
    return hits === 1;
  }

  return router;
}
