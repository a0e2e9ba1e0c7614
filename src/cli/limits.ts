// `tokenchat limits ...`: the limits an administrator sets (groups/limits.ts), a group's or one
// user's, from the command line, audited as by the command line (actor null) through the same
// operations as the admin pages. `limits show` prints those that apply to a user and where each
// comes from.
import type { Command } from 'commander';
import { CliError, userNamed, withDatabase } from './common';
import { listGroups } from '../groups/groups';
import { setGroupLimits, setUserLimits } from '../groups/limit-changes';
import { appliedLimitsOf, groupLimitsOf, LIMIT_FIELDS, LIMIT_MAX, userLimitsOf, type LimitField, type Limits } from '../ledger/limit-rules';
import type { AppStore } from '../db';

const OPTION: Record<LimitField, string> = {
  tokens_per_day: 'tokensPerDay', tokens_per_month: 'tokensPerMonth', requests_per_minute: 'requestsPerMinute',
  requests_per_hour: 'requestsPerHour', answers_at_once: 'answersAtOnce',
};
const flag = (field: LimitField) => `--${field.replace(/_/g, '-')}`;

/** A limit as given: a whole number from 1 to LIMIT_MAX, or "none". */
function parseLimit(field: LimitField, text: string): number | null {
  const t = text.trim().toLowerCase();
  if (t === 'none') return null;
  const n = /^\d{1,13}$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > LIMIT_MAX) throw new CliError(`${flag(field)} must be a whole number from 1 to ${LIMIT_MAX} or "none", not "${text}"`);
  return n;
}

async function groupId(database: AppStore, name: string): Promise<{ id: number; name: string }> {
  const group = (await database.read(listGroups)).find((g) => g.name === name.trim());
  if (!group) throw new CliError(`no group named "${name}"`);
  return group;
}

const limitsText = (limits: Limits) => LIMIT_FIELDS.map((f) => `${f.replace(/_/g, ' ')}: ${limits[f] ?? 'none'}`).join('; ');

export function limitsCommands(program: Command): void {
  const limits = program.command('limits').description("limits an administrator sets, per group or per user, that members cannot lift");

  const set = limits
    .command('set')
    .description("set a group's or a user's limits; those not given stay as they are (\"none\": no limit)")
    .option('--group <name>', "the group's limits (Everyone's too)")
    .option('--user <name>', "the limits set for this user, which replace their groups'");
  for (const field of LIMIT_FIELDS) set.option(`${flag(field)} <n|none>`, field.replace(/_/g, ' '));
  set.action(async (opts: Record<string, string | undefined>) => {
    if ((opts.group === undefined) === (opts.user === undefined)) throw new CliError('give --group <name> or --user <name>');
    const given = LIMIT_FIELDS.filter((f) => opts[OPTION[f]] !== undefined);
    if (given.length === 0) throw new CliError(`nothing to set: give ${LIMIT_FIELDS.map(flag).join(', ')}`);
    const changes = Object.fromEntries(given.map((f) => [f, parseLimit(f, opts[OPTION[f]]!)]));
    const result = await withDatabase(async (database) => {
      if (opts.group !== undefined) {
        const g = await groupId(database, opts.group);
        const next = { ...(await database.read(groupLimitsOf, g.id)), ...changes };
        await database.write(setGroupLimits, null, g.id, next);
        return { who: g.name, next };
      }
      const user = await userNamed(database, opts.user!);
      const next = { ...(await database.read(userLimitsOf, user.id)), ...changes };
      await database.write(setUserLimits, null, user.id, next);
      return { who: user.username, next };
    });
    console.log(`${result.who}: ${limitsText(result.next)}`);
  });

  limits
    .command('show')
    .description('the limits that apply to a user and where each comes from')
    .requiredOption('--user <name>', 'the user')
    .option('--json', 'print JSON')
    .action(async (opts: { user: string; json?: boolean }) => {
      const { username, applied } = await withDatabase(async (database) => {
        const user = await userNamed(database, opts.user);
        return { username: user.username, applied: await database.read(appliedLimitsOf, user.id) };
      });
      if (opts.json) return console.log(JSON.stringify(applied, null, 2));
      console.log(`limits of ${username}:`);
      for (const f of LIMIT_FIELDS) {
        const a = applied[f];
        const from = !a ? '' : a.group === null ? ' (set for this user by the administrator)' : ` (group ${a.group})`;
        console.log(`  ${f.replace(/_/g, ' ')}: ${a ? a.limit : 'none'}${from}`);
      }
    });
}
