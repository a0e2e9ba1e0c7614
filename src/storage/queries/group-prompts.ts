// Queries of a group's system prompt (groups/prompt.ts; see queries/index.ts).
import type { Changes, Q } from './shape';

/** A group's system prompt as stored: null text when it sets none. */
export interface GroupPromptRow {
  name: string;
  builtin: number;
  text: string | null;
  locked: number;
}

export interface GroupPromptQueries {
  /** One group's prompt; undefined when there is no such group. */
  'groupPrompts.ofGroup': Q<{ id: number }, GroupPromptRow | undefined>;
  'groupPrompts.set': Q<{ id: number; text: string | null; locked: number }, Changes>;
  /**
   * The prompts that may apply to a user: those of their groups that set one, or Everyone's when
   * they are in no group (as the rules: groups.rulesOf). groups/prompt.ts picks one.
   */
  'groupPrompts.forUser': Q<{ userId: number }, GroupPromptRow[]>;
}
