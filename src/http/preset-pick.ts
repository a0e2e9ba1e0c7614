// The chat page's preset picker. Without JavaScript a GET form names a preset (?preset=id) and the
// page comes back with the textbox (a prompt) or the system prompt (a system prompt) filled from
// it; with JavaScript (static/presets.js) the same fill comes as JSON from /presets/:id/fill and
// nothing else on the page (a draft, attached files) is lost. Nothing is stored until the user
// sends. A group's locked system prompt stays: the picker says so instead of filling the box.
import type { Request } from 'express';
import { pickablePreset, presetsFor, type PresetRow } from '../chat/presets';
import { promptFor, type GroupPrompt } from '../groups/prompt';
import type { Translate } from '../i18n';
import type { Store } from '../storage/op';

/** What picking a preset fills, and what the picker then says. */
export interface PresetFill {
  /** The system prompt the page shows instead of the conversation's. */
  system?: string;
  /** The textbox's text. */
  draft?: string;
  note: string;
}

export interface PresetPick extends Partial<PresetFill> {
  presets: { own: PresetRow[]; published: PresetRow[] };
}

/** What preset `id` fills for this user; a preset they may not pick fills nothing (and says it is gone). */
export async function presetFill(store: Store, userId: number, id: number, groupPrompt: GroupPrompt | undefined, t: Translate): Promise<PresetFill> {
  const preset = await store.read(pickablePreset, userId, id);
  if (!preset) return { note: t('preset.pick_missing') };
  if (preset.kind === 'prompt') return { draft: preset.body, note: t('preset.picked_prompt', { name: preset.name }) };
  if (groupPrompt?.locked) return { note: t('preset.pick_locked', { group: groupPrompt.group }) };
  return { system: preset.body, note: t('preset.picked_system', { name: preset.name }) };
}

/** The picker's presets, and the fill of the one a GET of the chat page names. */
export async function presetPick(store: Store, req: Request, userId: number, groupPrompt: GroupPrompt | undefined, t: Translate): Promise<PresetPick> {
  const presets = await store.read(presetsFor, userId);
  const id = req.method === 'GET' ? Number(req.query.preset) : NaN;
  if (!Number.isSafeInteger(id) || id < 1) return { presets };
  return { presets, ...(await presetFill(store, userId, id, groupPrompt, t)) };
}

/** The fill as JSON for static/presets.js. */
export async function presetFillFor(store: Store, userId: number, id: number, t: Translate): Promise<PresetFill> {
  return presetFill(store, userId, id, await store.read(promptFor, userId), t);
}
