// Prompt presets: prompts (they fill the textbox) and system prompts a user keeps to reuse, and
// the ones an admin publishes to everybody or to a group's members, which members see read-only
// beside their own. The only writer of the presets table; an admin's change is one audited write.
// A preset system prompt never overrides a group's locked one (the chat page and every turn keep
// the locked text: groups/prompt.ts).
import { asAdmin, recordAudit, type Actor } from '../admin/actions';
import { query, type Op } from '../storage/op';
import type { PresetKind, PresetRow } from '../storage/queries/presets';
import { findGroup } from '../groups/groups';

export type { PresetKind, PresetRow } from '../storage/queries/presets';

export const PRESET_NAME_MAX = 80;
export const PRESET_BODY_MAX = 20_000;
/** Presets a user may keep, and presets admins may publish, in all. */
export const OWN_MAX = 100;
export const PUBLISHED_MAX = 200;

/** Why a preset was refused; the code is the message key's suffix (preset.error.<code>). */
export class PresetError extends Error {
  constructor(readonly code: 'name' | 'body' | 'kind' | 'too_many' | 'no_group', readonly vars: Record<string, number> = {}) {
    super(code);
  }
}

export interface PresetInput {
  kind: PresetKind;
  name: string;
  body: string;
  /** Published presets only: the group it is for; null: everybody. */
  groupId?: number | null;
}

/** The form's fields as a preset: trimmed, line ends as \n; refused (PresetError) when out of bounds. */
export function presetInput(form: Record<string, unknown>): PresetInput {
  const text = (v: unknown) => (typeof v === 'string' ? v.replace(/\r\n?/g, '\n').trim() : '');
  const name = text(form.name).replace(/\s+/g, ' ');
  const body = text(form.body);
  if (form.kind !== 'prompt' && form.kind !== 'system') throw new PresetError('kind');
  if (name === '' || [...name].length > PRESET_NAME_MAX) throw new PresetError('name', { max: PRESET_NAME_MAX });
  if (body === '' || [...body].length > PRESET_BODY_MAX) throw new PresetError('body', { max: PRESET_BODY_MAX });
  const group = Number(form.group_id);
  return { kind: form.kind, name, body, groupId: form.group_id && Number.isSafeInteger(group) && group > 0 ? group : null };
}

/** What the user may pick: their own, and what admins published to them. */
export function* presetsFor(userId: number): Op<{ own: PresetRow[]; published: PresetRow[] }> {
  return { own: yield* query('presets.own', { userId }), published: yield* query('presets.publishedFor', { userId }) };
}

/** A preset the user may pick (their own, or published to them); undefined for any other id. */
export function* pickablePreset(userId: number, id: number): Op<PresetRow | undefined> {
  const { own, published } = yield* presetsFor(userId);
  return [...own, ...published].find((p) => p.id === id);
}

export function* createOwnPreset(userId: number, input: PresetInput): Op<number> {
  yield* query('shares.lockUser', { userId }); // counted and added one writer at a time
  if ((yield* query('presets.countOwn', { userId })) >= OWN_MAX) throw new PresetError('too_many', { max: OWN_MAX });
  return (yield* query('presets.insert', { userId, groupId: null, kind: input.kind, name: input.name, body: input.body }))!;
}

/** Renames or edits one of the user's own presets; false when it is not theirs. */
export function* updateOwnPreset(userId: number, id: number, input: PresetInput): Op<boolean> {
  const row = yield* query('presets.byId', { id });
  if (row?.userId !== userId) return false;
  yield* query('presets.update', { id, groupId: null, kind: input.kind, name: input.name, body: input.body, now: new Date().toISOString() });
  return true;
}

export function* deleteOwnPreset(userId: number, id: number): Op<boolean> {
  const row = yield* query('presets.byId', { id });
  if (row?.userId !== userId) return false;
  return (yield* query('presets.delete', { id })).changes === 1;
}

/** Everything admins published, for the admin page. */
export function* publishedPresets(): Op<PresetRow[]> {
  return yield* query('presets.published', {});
}

function* audience(groupId: number | null | undefined): Op<{ groupId: number | null; group: string | null }> {
  if (!groupId) return { groupId: null, group: null };
  const group = yield* findGroup(groupId);
  if (!group) throw new PresetError('no_group');
  return { groupId, group: group.name };
}

/** Publishes a preset to everybody or to a group's members; audited. A write operation. */
export function* publishPreset(actorId: Actor, input: PresetInput): Op<number> {
  yield* asAdmin(actorId);
  const to = yield* audience(input.groupId);
  if ((yield* query('presets.countPublished', {})) >= PUBLISHED_MAX) throw new PresetError('too_many', { max: PUBLISHED_MAX });
  const id = (yield* query('presets.insert', { userId: null, groupId: to.groupId, kind: input.kind, name: input.name, body: input.body }))!;
  yield* recordAudit(actorId, 'preset_publish', null, { preset: input.name, kind: input.kind, group: to.group });
  return id;
}

/** Edits a published preset (or whom it is for); false when there is no such published preset. Audited. */
export function* updatePublishedPreset(actorId: Actor, id: number, input: PresetInput): Op<boolean> {
  yield* asAdmin(actorId);
  const row = yield* query('presets.byId', { id });
  if (!row || row.userId !== null) return false;
  const to = yield* audience(input.groupId);
  yield* query('presets.update', { id, groupId: to.groupId, kind: input.kind, name: input.name, body: input.body, now: new Date().toISOString() });
  yield* recordAudit(actorId, 'preset_update', null, { preset: input.name, was: row.name, kind: input.kind, group: to.group });
  return true;
}

export function* unpublishPreset(actorId: Actor, id: number): Op<boolean> {
  yield* asAdmin(actorId);
  const row = yield* query('presets.byId', { id });
  if (!row || row.userId !== null) return false;
  yield* query('presets.delete', { id });
  yield* recordAudit(actorId, 'preset_delete', null, { preset: row.name, group: row.groupName });
  return true;
}
