// /admin/presets: presets an admin publishes to everybody or to a group's members, who see them
// read-only beside their own. Each change is one audited write (chat/presets.ts).
import { Router, type Request, type Response } from 'express';
import type { Services } from '../context';
import {
  PRESET_BODY_MAX, PRESET_NAME_MAX, PresetError, presetInput, publishedPresets, publishPreset, unpublishPreset, updatePublishedPreset,
} from '../../chat/presets';
import { listGroups } from '../../groups/groups';
import { HttpError } from '../http-error';
import { bodyOf } from '../input';
import { renderPage } from '../views';
import { idParam } from './guards';
import { presetStatus, refusal } from './presets';

export function adminPresetRoutes({ database }: Services): Router {
  const router = Router();

  async function page(req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) {
    renderPage(req, res, 'admin-presets', {
      title: res.locals.t('preset.admin_title'), presets: await database.read(publishedPresets), groups: await database.read(listGroups),
      nameMax: PRESET_NAME_MAX, bodyMax: PRESET_BODY_MAX, ...extra,
    }, status);
  }

  async function change(req: Request, res: Response, done: string, act: () => Promise<boolean>, editing?: number) {
    try {
      if (!(await act())) throw new HttpError(404);
      res.redirect(303, `/admin/presets?done=${done}`);
    } catch (err) {
      if (!(err instanceof PresetError)) throw err;
      await page(req, res, { error: refusal(res, err), input: bodyOf(req), editing }, presetStatus(err));
    }
  }

  router.get('/', async (req, res) => {
    const done = typeof req.query.done === 'string' && ['made', 'saved', 'deleted'].includes(req.query.done) ? req.query.done : undefined;
    await page(req, res, { done });
  });
  router.post('/', (req, res) => change(req, res, 'made', async () => (await database.write(publishPreset, req.user!.id, presetInput(bodyOf(req)))) > 0));
  router.post('/:id', (req, res) => {
    const id = idParam(req);
    return change(req, res, 'saved', () => database.write(updatePublishedPreset, req.user!.id, id, presetInput(bodyOf(req))), id);
  });
  router.post('/:id/delete', (req, res) => {
    const id = idParam(req);
    return change(req, res, 'deleted', () => database.write(unpublishPreset, req.user!.id, id));
  });

  return router;
}
