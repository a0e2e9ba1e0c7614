// The chat page's preset picker, without JavaScript: a GET form names a preset (?preset=id) and the
// page comes back with the textbox (a prompt) or the system prompt (a system prompt) filled from
// it. Nothing is stored until the user sends. A group's locked system prompt stays: the picker
// says so instead of filling the box.
import type { Request } from 'express';
import { pickablePreset, presetsFor, type PresetRow } from '../chat/presets';
import type { GroupPrompt } from '../groups/prompt';
import type { Translate } from '../i18n';
import type { Store } from '../storage/op';

export interface PresetPick {
  presets: { own: PresetRow[]; published: PresetRow[] };
  /** The system prompt the page shows instead of the conversation's. */
  system?: string;
  /** The textbox's text. */
  draft?: string;
  /** What happened, said beside the picker. */
  note?: string;
}

export async function presetPick(store: Store, req: Request, userId: number, groupPrompt: GroupPrompt | undefined, t: Translate): Promise<PresetPick> {
  const presets = await store.read(presetsFor, userId);
  const id = req.method === 'GET' ? Number(req.query.preset) : NaN;
  if (!Number.isSafeInteger(id) || id < 1) return { presets };
  const preset = await store.read(pickablePreset, userId, id);
  if (!preset) return { presets, note: t('preset.pick_missing') };
  if (preset.kind === 'prompt') return { presets, draft: preset.body, note: t('preset.picked_prompt', { name: preset.name }) };
  if (groupPrompt?.locked) return { presets, note: t('preset.pick_locked', { group: groupPrompt.group }) };
  return { presets, system: preset.body, note: t('preset.picked_system', { name: preset.name }) };
}
