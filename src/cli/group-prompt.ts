// `tokenchat group set <name> --system-prompt <text|@file|none> [--lock|--unlock]`: a group's
// system prompt from the command line, run in the same write as the rules `group set` also takes,
// so a refusal changes nothing. What is not given stays as it is; clearing the prompt unlocks it.
import fs from 'node:fs';
import type { Command } from 'commander';
import { CliError } from './common';
import { setGroupRules, type GroupRules } from '../groups/groups';
import { normalPrompt, promptOfGroup, setGroupPrompt, type GroupPromptSetting } from '../groups/prompt';
import type { Op } from '../storage/op';

export interface PromptOptions {
  systemPrompt?: string;
  lock?: boolean;
  unlock?: boolean;
}

/** What the options ask of the prompt: a text (null: none), a lock; undefined when they ask nothing. */
export interface PromptChange {
  text?: string | null;
  lock?: boolean;
}

export function promptOptions(command: Command): Command {
  return command
    .option('--system-prompt <text>', 'the system prompt its members\' new conversations start with: the text, @file to read it from a file, or none')
    .option('--lock', 'members cannot change the system prompt (it is sent with every message, in old conversations too)')
    .option('--unlock', 'members may change the system prompt (a change applies to new conversations only)');
}

/** The change the options ask for; undefined when none of them is given. */
export function promptChange(opts: PromptOptions): PromptChange | undefined {
  if (opts.lock && opts.unlock) throw new CliError('give --lock or --unlock, not both');
  const lock = opts.lock ? true : opts.unlock ? false : undefined;
  if (opts.systemPrompt === undefined) return lock === undefined ? undefined : { lock };
  return { text: promptText(opts.systemPrompt), lock };
}

function promptText(given: string): string | null {
  if (given.trim() === 'none') return null;
  if (!given.startsWith('@')) return given;
  const file = given.slice(1);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/**
 * Sets the rules and the prompt of a group in one write (as the command line: actor null); answers
 * the prompt as kept, or undefined when the prompt was not asked to change.
 */
export function* setGroupFromCli(id: number, rules: GroupRules | undefined, known: readonly string[], change: PromptChange | undefined): Op<GroupPromptSetting | undefined> {
  if (rules) yield* setGroupRules(null, id, rules, known);
  if (!change) return undefined;
  const now = (yield* promptOfGroup(id)) ?? { text: null, locked: false };
  const text = normalPrompt(change.text === undefined ? now.text : change.text);
  const locked = change.lock ?? (text === null ? false : now.locked);
  yield* setGroupPrompt(null, id, { text, locked });
  return { text, locked };
}

export function promptLine(group: string, prompt: GroupPromptSetting): string {
  if (prompt.text === null) return `${group}: no system prompt`;
  return `${group}: system prompt of ${[...prompt.text].length} characters, ${prompt.locked ? 'locked (members cannot change it)' : 'members may change it'}`;
}
