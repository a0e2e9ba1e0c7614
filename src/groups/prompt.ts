// A group's system prompt (issue 24): the text its members' new conversations start with, which
// the group may lock so that members cannot change it. This module keeps it (setGroupPrompt, one
// audited write, run by the admin page and the CLI alike) and states, once, which prompt applies
// to a user and what a turn is sent with; the chat routes only ask here.
//
// Several groups: a locked prompt wins over an unlocked one (the admin who locks a prompt means it
// to hold for every member); among equals, the group first by name. People in no group get
// Everyone's, as they get Everyone's rules; a member of groups that set none gets none.
//
// Locked: every turn is sent with the group's text, whatever the form says, in every conversation,
// old or new, on Send, Retry and Edit alike, from the moment it is locked. Unlocked: it is only the
// starting value of a new conversation; a conversation keeps its own prompt when the admin changes it.
import { asAdmin, recordAudit, type Actor } from '../admin/actions';
import { query, type Op } from '../storage/op';
import type { GroupPromptRow } from '../storage/queries/group-prompts';
import { GroupError } from './groups';

/** The most characters a group's prompt has (the column's CHECK says the same). */
export const GROUP_PROMPT_MAX = 8000;
const AUDIT_CHARS = 200;

/** A group's system prompt; text null: it sets none. */
export interface GroupPromptSetting {
  text: string | null;
  locked: boolean;
}

/** The prompt that applies to a user, and the group it comes from. */
export interface GroupPrompt {
  text: string;
  locked: boolean;
  group: string;
  /** Everyone's: the user is in no group. */
  builtin: boolean;
}

const byName = (a: GroupPromptRow, b: GroupPromptRow) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The prompt a user's conversations start with (pure): the locked first, then by name. */
export function promptFrom(rows: readonly GroupPromptRow[]): GroupPrompt | undefined {
  const row = [...rows].filter((r) => r.text !== null).sort((a, b) => b.locked - a.locked || byName(a, b))[0];
  return row && { text: row.text!, locked: row.locked === 1, group: row.name, builtin: row.builtin === 1 };
}

/** The group prompt that applies to a user, if any: one read. */
export function* promptFor(userId: number): Op<GroupPrompt | undefined> {
  return promptFrom(yield* query('groupPrompts.forUser', { userId }));
}

/** One group's prompt as the admin page shows it; undefined when there is no such group. */
export function* promptOfGroup(groupId: number): Op<GroupPromptSetting | undefined> {
  const row = yield* query('groupPrompts.ofGroup', { id: groupId });
  return row && { text: row.text, locked: row.locked === 1 };
}

/** A prompt as kept: line ends as \n, no whitespace around it, empty as none. */
export function normalPrompt(text: string | null): string | null {
  const kept = text?.replace(/\r\n?/g, '\n').trim() ?? '';
  return kept === '' ? null : kept;
}

/**
 * Sets (or clears, text null or blank) a group's system prompt and whether members may change it.
 * Refused: more than GROUP_PROMPT_MAX characters, or a lock without a prompt. A write operation.
 */
export function* setGroupPrompt(actorId: Actor, groupId: number, setting: GroupPromptSetting): Op<void> {
  const text = normalPrompt(setting.text);
  if (text !== null && [...text].length > GROUP_PROMPT_MAX) throw new GroupError('prompt_long', { max: GROUP_PROMPT_MAX });
  if (text === null && setting.locked) throw new GroupError('prompt_lock_empty');
  yield* asAdmin(actorId);
  const group = yield* query('groupPrompts.ofGroup', { id: groupId });
  if (!group) throw new GroupError('no_group');
  yield* query('groupPrompts.set', { id: groupId, text, locked: setting.locked ? 1 : 0 });
  // The audit log keeps the prompt's start: enough to tell one from another, not a copy of it.
  const chars = text === null ? [] : [...text];
  const prompt = chars.length > AUDIT_CHARS ? `${chars.slice(0, AUDIT_CHARS).join('')}…` : text;
  yield* recordAudit(actorId, 'group_prompt', null, { group: group.name, prompt, characters: chars.length, locked: setting.locked });
}

/**
 * The system prompt a turn is sent with: a locked group prompt over whatever the form said; for a
 * new conversation whose form sent no prompt at all, the group's unlocked one; else the form's
 * (or the conversation's, which the form's settings already fell back to).
 */
export function turnPrompt(prompt: GroupPrompt | undefined, asked: string, turn: { fresh: boolean; sent: boolean }): string {
  if (prompt?.locked) return prompt.text;
  if (prompt && turn.fresh && !turn.sent) return prompt.text;
  return asked;
}
