// `tokenchat allowance ...`: a group's allowance (groups/allowances.ts) and the organisation's time
// zone from the command line, through the same audited operations as the admin pages (actor null:
// the command line). A refusal is one line naming the option, and changes nothing.
import type { Command } from 'commander';
import { CliError, withDatabase } from './common';
import type { AppStore } from '../db';
import { listUsers } from '../accounts/users';
import { allowanceSummary } from '../groups/allowance-summary';
import { AllowanceError, allowanceOf, bucketsOfGroup, checkAllowance, setAllowance, setTimeZone, zoneSetting, type AllowanceConfig } from '../groups/allowances';
import { GroupError, listGroups, type Group } from '../groups/groups';
import { PERIOD_KINDS, serverTimeZone, type PeriodKind } from '../ledger/periods';
import { MAX_AMOUNT } from '../ledger/ledger';
import { translator } from '../i18n';

interface SetOptions {
  group: string;
  amount: string;
  period?: string;
  mode?: string;
  cap?: string;
  join?: string;
  apply?: string;
}

async function groupNamed(database: AppStore, name: string): Promise<Group> {
  const group = (await database.read(listGroups)).find((g) => g.name === name.trim());
  if (!group) throw new CliError(`no group named "${name}"`);
  return group;
}

function tokens(option: string, text: string): number {
  const t = text.trim();
  if (!/^\d{1,13}$/.test(t) || Number(t) < 1 || Number(t) > MAX_AMOUNT) throw new CliError(`${option} must be a whole number from 1 to ${MAX_AMOUNT}${option === '--amount' ? ' or "none"' : ''}, not "${text}"`);
  return Number(t);
}

function oneOf<T extends string>(option: string, text: string | undefined, allowed: readonly T[]): T | undefined {
  if (text === undefined) return undefined;
  if (!allowed.includes(text as T)) throw new CliError(`${option} must be ${allowed.join(' or ')}, not "${text}"`);
  return text as T;
}

/** The allowance the options ask for; what is not given stays as the group has it (or the defaults). */
function asked(opts: SetOptions, old: AllowanceConfig | null): AllowanceConfig | null {
  const period = oneOf<PeriodKind>('--period', opts.period, PERIOD_KINDS);
  const mode = oneOf('--mode', opts.mode, ['reset', 'add'] as const);
  const join = oneOf('--join', opts.join, ['full', 'prorata'] as const);
  if (opts.amount.trim().toLowerCase() === 'none') {
    if (opts.period ?? opts.mode ?? opts.cap ?? opts.join) throw new CliError('--amount none removes the allowance: give no --period, --mode, --cap or --join with it');
    return null;
  }
  const amount = tokens('--amount', opts.amount);
  const kept = mode ?? old?.mode ?? 'reset';
  if (opts.cap !== undefined && kept !== 'add') throw new CliError('--cap is for --mode add only');
  let cap: number | null = null;
  if (kept === 'add') cap = opts.cap === undefined ? (old?.cap ?? null) : opts.cap.trim().toLowerCase() === 'none' ? null : tokens('--cap', opts.cap);
  try {
    return checkAllowance({ amount, period: period ?? old?.period ?? 'month', mode: kept, cap, join: join ?? old?.join ?? 'full' });
  } catch (err) {
    if (err instanceof AllowanceError) throw new CliError(translator('en')(`allowance.error.${err.code}`, err.vars));
    throw err;
  }
}

const configText = (c: AllowanceConfig | null) =>
  c === null
    ? 'no allowance'
    : `${c.amount} tokens a ${c.period}, ${c.mode === 'reset' ? 'reset each period' : `added each period up to ${c.cap ?? 'no cap'}`}; new members get ${c.join === 'full' ? "the whole period's" : 'a pro rata share'}`;

export function allowanceCommands(program: Command): void {
  const allowance = program.command('allowance').description("a group's allowance, which refills each period, and the time zone periods count in");

  allowance
    .command('set')
    .description("set a group's allowance; options not given stay as the group has them")
    .requiredOption('--group <name>', 'the group (Everyone: everyone in no other group)')
    .requiredOption('--amount <n|none>', 'tokens per member each period; "none" removes the allowance, taking back what is left')
    .option('--period <day|week|month>', 'calendar periods in the organisation\'s time zone (default month)')
    .option('--mode <reset|add>', 'reset to the amount each period (what is left expires), or add it up to --cap (default reset)')
    .option('--cap <n|none>', 'add mode: the most a member\'s allowance may hold')
    .option('--join <full|prorata>', 'what a member who joins mid-period gets: the whole amount, or the part of the period left (default full)')
    .option('--apply <now|next>', 'for a change of an existing allowance: now (the difference applied once) or from the next period (default next)')
    .action(async (opts: SetOptions) => {
      const apply = oneOf('--apply', opts.apply, ['now', 'next'] as const) ?? 'next';
      const result = await withDatabase(async (database) => {
        const g = await groupNamed(database, opts.group);
        const config = asked(opts, await database.read(allowanceOf, g.id));
        try {
          await database.write(setAllowance, null, g.id, config, apply);
        } catch (err) {
          if (err instanceof GroupError) throw new CliError(translator('en')(`groups.error.${err.code}`, err.vars));
          throw err;
        }
        return { name: g.name, config };
      });
      console.log(`${result.name}: ${configText(result.config)}${result.config ? ` (a change applies ${apply === 'now' ? 'now' : 'from the next period'})` : ''}`);
    });

  allowance
    .command('show')
    .description("a group's allowance and its members' buckets: user, left, size, period")
    .requiredOption('--group <name>', 'the group')
    .option('--json', 'print JSON')
    .action(async (opts: { group: string; json?: boolean }) => {
      const { g, summary, buckets, names } = await withDatabase(async (database) => {
        const g = await groupNamed(database, opts.group);
        const names = new Map((await database.read(listUsers)).map((u) => [u.id, u.username]));
        return { g, summary: (await database.read(allowanceSummary, g.id, new Date()))!, buckets: await database.read(bucketsOfGroup, g.id), names };
      });
      const rows = buckets.map((b) => ({ user: names.get(b.userId) ?? String(b.userId), left: b.balance, size: b.size, period: b.label, endsAt: b.endsAt }));
      if (opts.json) return console.log(JSON.stringify({ group: g.name, allowance: summary.config, zone: summary.zone, period: summary.period, buckets: rows }, null, 2));
      console.log(`group: ${g.name}`);
      console.log(`allowance: ${configText(summary.config)}`);
      if (summary.config) console.log(`period: ${summary.period.label}, refills ${summary.period.endsAt} (periods in ${summary.zone})`);
      console.log(['user', 'left', 'size', 'period'].join('\t'));
      for (const r of rows) console.log([r.user, r.left, r.size, r.period ?? '-'].join('\t'));
    });

  allowance
    .command('zone [zone]')
    .description("show the organisation's time zone, or set it (an IANA name such as Asia/Shanghai)")
    .action(async (zone: string | undefined) => {
      if (zone === undefined) {
        const current = await withDatabase((database) => database.read(zoneSetting));
        return console.log(`${current} (this server's own zone: ${serverTimeZone()})`);
      }
      await withDatabase(async (database) => {
        try {
          await database.write(setTimeZone, null, zone.trim());
        } catch (err) {
          if (err instanceof AllowanceError) throw new CliError(translator('en')('allowance.error.zone', err.vars));
          throw err;
        }
      });
      console.log(`time zone: ${zone.trim()}; allowances follow it from their next refill`);
    });
}
