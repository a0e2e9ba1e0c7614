// `tokenchat group import <group> <file.csv> [--apply] [--passwords FILE]`: the group page's roster
// import from the command line, audited as by the command line (actor null). Without --apply it is
// the dry run and changes nothing; with it, the plan is made again and applied. Generated passwords
// go only to a new file (mode 0600, never overwritten), never to the terminal or a log.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { CliError, config, withDatabase } from './common';
import { PasswordHasher } from '../accounts/passwords';
import { listGroups } from '../groups/groups';
import { applyRoster, planRoster, RosterError, type RosterPlan } from '../groups/roster';
import { translator } from '../i18n';
import { csvLine } from '../reports/csv';

const en = translator('en');

function describe(plan: RosterPlan, done = false): string[] {
  const c = plan.counts;
  if (done) return [`${c.create} created, ${c.add} added, ${c.unchanged} unchanged, ${c.wrong} wrong rows left out`];
  const lines = plan.rows.map((r) => {
    if (r.kind === 'wrong') return `line ${r.line}\t${r.username}\twrong: ${r.problems.map((p) => en(`roster.problem.${p}`)).join('; ')}`;
    const what = r.kind === 'create' ? `create${r.generated ? ' (password generated)' : ''}` : r.kind === 'add' ? 'add to the group' : 'unchanged';
    return `line ${r.line}\t${r.username}\t${what}`;
  });
  return [...lines, `${c.create} to create, ${c.add} to add, ${c.unchanged} unchanged, ${c.wrong} wrong`];
}

async function refusedAsCli<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof RosterError) throw new CliError(en(`roster.error.${err.code}`, err.vars));
    throw err;
  }
}

export function rosterCommand(group: Command): void {
  group
    .command('import <group> <file>')
    .description('import a roster CSV (username, display name, email, optional password) into a group: a dry run unless --apply')
    .option('--apply', 'create the accounts and add them to the group')
    .option('--passwords <file>', 'where generated passwords are written (a new file); default <file>-passwords.csv')
    .action(async (name: string, file: string, opts: { apply?: boolean; passwords?: string }) => {
      const text = fs.readFileSync(file, 'utf8').replace(/\r\n?/g, '\n');
      const out = opts.passwords ?? path.join(path.dirname(file), `${path.basename(file, path.extname(file))}-passwords.csv`);
      const { hashConcurrency, signupBonus } = config();
      await withDatabase(async (database) => {
        const g = (await database.read(listGroups)).find((x) => x.name === name.trim());
        if (!g) throw new CliError(`no group named "${name}"`);
        if (!opts.apply) {
          const plan = await refusedAsCli(planRoster(database, g.id, text));
          for (const line of describe(plan)) console.log(line);
          console.log('dry run: nothing changed; run again with --apply to apply it');
          return;
        }
        if (fs.existsSync(out)) throw new CliError(`${out} exists; give --passwords a new file`);
        const hasher = new PasswordHasher(hashConcurrency, 0);
        const result = await refusedAsCli(applyRoster(database, hasher, { actorId: null, groupId: g.id, text, expected: null, signupBonus, concurrency: hashConcurrency }));
        for (const line of describe(result.plan, true)) console.log(line);
        if (result.generated.length) {
          fs.writeFileSync(out, `\uFEFF${csvLine(['username', 'password'])}${result.generated.map((r) => csvLine([r.username, r.password])).join('')}`, { flag: 'wx', mode: 0o600 });
          console.log(`generated passwords for ${result.generated.length} accounts written to ${out}: hand them out, then delete the file`);
        }
        console.log(`applied to group ${g.name}`);
      });
    });
}
