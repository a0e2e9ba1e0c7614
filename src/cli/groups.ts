// `tokenchat group ...`: the admin pages' group operations from the command line, audited as by
// the command line (actor null), as `user disable` is. A refusal is one line naming what is wrong.
import type { Command } from 'commander';
import { CliError, config, userNamed, withDatabase } from './common';
import type { AppStore } from '../db';
import {
  addMembers, createGroup, GroupError, listGroups, membersOf, PERCENT_MAX, PERCENT_MIN, removeMembers, type Group,
} from '../groups/groups';
import { translator } from '../i18n';
import { loadModels } from '../metering/models';
import { promptOfGroup } from '../groups/prompt';
import { promptChange, promptLine, promptOptions, setGroupFromCli, type PromptOptions } from './group-prompt';
import { rosterCommand } from './roster';

/** Runs a group operation; its refusal becomes the line the admin pages would show, in English. */
async function refusedAsCli<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof GroupError) throw new CliError(translator('en')(`groups.error.${err.code}`, err.vars));
    throw err;
  }
}

async function groupNamed(database: AppStore, name: string): Promise<Group> {
  const group = (await database.read(listGroups)).find((g) => g.name === name.trim());
  if (!group) throw new CliError(`no group named "${name}"`);
  return group;
}

async function userIds(database: AppStore, names: string[]): Promise<Map<number, string>> {
  const ids = new Map<number, string>();
  for (const name of names) {
    const user = await userNamed(database, name);
    ids.set(user.id, user.username);
  }
  return ids;
}

const modelsText = (models: string[] | null) => (models === null ? 'every model' : models.length ? models.join(', ') : 'no model');

function parsePercent(text: string): number {
  if (!/^\d{1,4}$/.test(text.trim())) throw new CliError(`--price-percent must be a whole number from ${PERCENT_MIN} to ${PERCENT_MAX}, not "${text}"`);
  return Number(text);
}

export function groupCommands(program: Command): void {
  const group = program.command('group').description('groups: the models their members may use and the price they pay');
  rosterCommand(group); // group import <group> <file.csv> [--apply]

  group
    .command('create <name>')
    .description('create a group (every model, at the listed price, no members)')
    .action(async (name: string) => {
      const id = await withDatabase((database) => refusedAsCli(database.write(createGroup, null, name)));
      console.log(`created group ${name.trim()} (id ${id})`);
    });

  group
    .command('list')
    .description('list the groups with their members, models and price')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const groups = await withDatabase((database) => database.read(listGroups));
      if (opts.json) return console.log(JSON.stringify(groups, null, 2));
      console.log(['id', 'name', 'members', 'price_percent', 'models'].join('\t'));
      for (const g of groups) console.log([g.id, g.name, g.builtin ? '-' : g.members, g.pricePercent, modelsText(g.models)].join('\t'));
    });

  group
    .command('show <name>')
    .description("a group's rules and members")
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }) => {
      const { found, members, prompt } = await withDatabase(async (database) => {
        const found = await groupNamed(database, name);
        return { found, members: found.builtin ? [] : await database.read(membersOf, found.id), prompt: await database.read(promptOfGroup, found.id) };
      });
      if (opts.json) return console.log(JSON.stringify({ ...found, members: members.map((m) => ({ id: m.userId, username: m.username, addedAt: m.addedAt })), systemPrompt: prompt }, null, 2));
      console.log(`group: ${found.name}${found.builtin ? ' (built in: everyone in no other group)' : ''}`);
      console.log(`models: ${modelsText(found.models)}`);
      console.log(`price percent: ${found.pricePercent}`);
      if (!found.builtin) console.log(`members (${members.length}): ${members.map((m) => m.username).join(', ') || 'none'}`);
      if (prompt?.text) console.log(`system prompt${prompt.locked ? ' (locked)' : ''}: ${prompt.text}`);
    });

  for (const [command, op, verb, preposition] of [['add', addMembers, 'added', 'to'], ['remove', removeMembers, 'removed', 'from']] as const) {
    group
      .command(`${command} <name> <user...>`)
      .description(command === 'add' ? 'add users to a group (those already in stay as they are)' : 'remove users from a group')
      .action(async (name: string, users: string[]) => {
        const { g, named, changed } = await withDatabase(async (database) => {
          const g = await groupNamed(database, name);
          const named = await userIds(database, users);
          return { g, named, changed: await refusedAsCli(database.write(op, null, g.id, [...named.keys()])) };
        });
        const names = changed.map((id) => named.get(id)!);
        const unchanged = [...named.entries()].filter(([id]) => !changed.includes(id)).map(([, n]) => n);
        const note = unchanged.length ? `; ${command === 'add' ? 'already in' : 'not in it'}: ${unchanged.join(', ')}` : '';
        console.log(`${verb} ${names.length} ${preposition} ${g.name}${names.length ? `: ${names.join(', ')}` : ''}${note}`);
      });
  }

  promptOptions(group
    .command('set <name>')
    .description("set a group's models, price percent and system prompt; what is not given stays as it is"))
    .option('--models <ids>', 'the model ids its members may use, comma-separated ("" for none)')
    .option('--all-models', 'its members may use every model, including ones added later')
    .option('--price-percent <n>', `the percent of the models' prices its members pay (${PERCENT_MIN}-${PERCENT_MAX}; 100 = the models' own price, 50 = half)`)
    .action(async (name: string, opts: { models?: string; allModels?: boolean; pricePercent?: string } & PromptOptions) => {
      if (opts.models !== undefined && opts.allModels) throw new CliError('give --models or --all-models, not both');
      const prompt = promptChange(opts);
      const rulesGiven = opts.models !== undefined || opts.allModels || opts.pricePercent !== undefined;
      if (!rulesGiven && !prompt) throw new CliError('nothing to set: give --models, --all-models, --price-percent, --system-prompt, --lock or --unlock');
      const pricePercent = opts.pricePercent === undefined ? undefined : parsePercent(opts.pricePercent);
      const listed = opts.models?.split(',').map((m) => m.trim()).filter(Boolean);
      // The models the server may serve: those of its models file.
      const known = loadModels(config().modelsFile).models.map((m) => m.id);
      const set = await withDatabase(async (database) => {
        const g = await groupNamed(database, name);
        const rules = { models: opts.allModels ? null : listed ?? g.models, pricePercent: pricePercent ?? g.pricePercent };
        const kept = await refusedAsCli(database.write(setGroupFromCli, g.id, rulesGiven ? rules : undefined, known, prompt));
        return { name: g.name, ...rules, kept };
      });
      if (rulesGiven) console.log(`${set.name}: ${modelsText(set.models)}; price percent ${set.pricePercent}`);
      if (set.kept) console.log(promptLine(set.name, set.kept));
    });
}
