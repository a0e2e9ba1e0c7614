// What the group page's "System prompt" form sends (views/partials/group-prompt.eta): the text
// (empty: none) and the lock box. The rules (length, a lock needs a text) are groups/prompt.ts's.
import type { GroupPromptSetting } from '../groups/prompt';

/** Far beyond the longest prompt kept, so a longer one is refused as too long rather than cut. */
const READ_MAX = 20_000;

const lockedIn = (form: Record<string, unknown>) => form.locked === '1' || form.locked === 'on' || form.locked === true;

export function promptFrom(form: Record<string, unknown>): GroupPromptSetting {
  const text = typeof form.system_prompt === 'string' ? form.system_prompt.slice(0, READ_MAX) : '';
  return { text, locked: lockedIn(form) };
}

/** The form as it was sent, to show again with its error. */
export function promptInput(form: Record<string, unknown>): { system_prompt: string; locked: boolean } {
  const { text, locked } = promptFrom(form);
  return { system_prompt: text ?? '', locked };
}
