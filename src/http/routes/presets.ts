// A user's prompt presets (/presets): create, rename or edit, delete; and, read-only beside them,
// what admins published to them. The chat page's picker fills the textbox or the system prompt
// from one (chat-view.ts). Rules and limits are in chat/presets.ts.
import { Router, type Request, type Response } from 'express';
import type { Services } from '../context';
import {
  createOwnPreset, deleteOwnPreset, PRESET_BODY_MAX, PRESET_NAME_MAX, PresetError, presetInput, presetsFor, updateOwnPreset,
} from '../../chat/presets';
import { HttpError } from '../http-error';
import { presetFillFor } from '../preset-pick';
import { bodyOf } from '../input';
import { renderPage } from '../views';
import { idParam, signedIn } from './guards';

/** A refused preset's status: too many is a conflict with what exists, the rest a form to fix. */
export const presetStatus = (err: PresetError): number => (err.code === 'too_many' ? 409 : 422);

/** Why a preset was refused, its numbers written as the reader writes them. */
export function refusal(res: Response, err: PresetError): string {
  const vars = Object.fromEntries(Object.entries(err.vars).map(([k, v]) => [k, v.toLocaleString(res.locals.locale)]));
  return res.locals.t(`preset.error.${err.code}`, vars);
}

export function presetRoutes({ database }: Services): Router {
  const router = Router();

  async function page(req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) {
    const presets = await database.read(presetsFor, req.user!.id);
    renderPage(req, res, 'presets', { title: res.locals.t('preset.title'), ...presets, nameMax: PRESET_NAME_MAX, bodyMax: PRESET_BODY_MAX, ...extra }, status);
  }

  /** Runs a change; a refused one re-renders the page with the input and the reason. */
  async function change(req: Request, res: Response, done: string, act: () => Promise<boolean>, editing?: number) {
    try {
      if (!(await act())) throw new HttpError(404); // another user's preset, or a published one
      res.redirect(303, `/presets?done=${done}`);
    } catch (err) {
      if (!(err instanceof PresetError)) throw err;
      await page(req, res, { error: refusal(res, err), input: bodyOf(req), editing }, presetStatus(err));
    }
  }

  router.get('/presets', signedIn, async (req, res) => {
    const done = typeof req.query.done === 'string' && ['made', 'saved', 'deleted'].includes(req.query.done) ? req.query.done : undefined;
    await page(req, res, { done });
  });

  // The picker's fill with JavaScript (static/presets.js): the same as ?preset=id on the chat page.
  router.get('/presets/:id/fill', signedIn, async (req, res) => {
    res.json(await presetFillFor(database, req.user!.id, idParam(req), res.locals.t));
  });

  router.post('/presets', signedIn, (req, res) =>
    change(req, res, 'made', async () => (await database.write(createOwnPreset, req.user!.id, presetInput(bodyOf(req)))) > 0));

  router.post('/presets/:id', signedIn, (req, res) => {
    const id = idParam(req);
    return change(req, res, 'saved', () => database.write(updateOwnPreset, req.user!.id, id, presetInput(bodyOf(req))), id);
  });

  router.post('/presets/:id/delete', signedIn, (req, res) => {
    const id = idParam(req);
    return change(req, res, 'deleted', () => database.write(deleteOwnPreset, req.user!.id, id));
  });

  return router;
}
