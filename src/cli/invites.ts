// `tokenchat invite create|list|revoke` and `tokenchat user approve|reject`: the admin pages'
// onboarding operations from the command line, audited as by the command line (actor null).
import type { Command } from 'commander';
import { CliError, config, userNamed, withDatabase } from './common';
import { setDisabled } from '../admin/actions';
import { listGroups } from '../groups/groups';
import { translator } from '../i18n';
import { createInvite, EXPIRY_DAYS_MAX, generateInviteToken, InviteError, inviteUrl, listInvites, revokeInvite, USES_MAX } from '../onboarding/invites';
import { approveUser } from '../onboarding/registration';
import { sendSignal } from '../storage/signals';

/** `7d`, `12h` or `30m` (a bare number is days); at most a year. */
export function parseExpiry(text: string, now = new Date()): Date {
  const m = /^(\d{1,6})([dhm]?)$/.exec(text.trim());
  const ms = m ? Number(m[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000 }[(m[2] || 'd') as 'd' | 'h' | 'm'] : NaN;
  if (!(ms > 0) || ms > EXPIRY_DAYS_MAX * 86_400_000) throw new CliError(`--expires must be a time such as 7d, 12h or 30m, at most ${EXPIRY_DAYS_MAX}d, not "${text}"`);
  return new Date(now.getTime() + ms);
}

function parseUses(text: string): number {
  if (!/^\d{1,6}$/.test(text.trim()) || Number(text) < 1 || Number(text) > USES_MAX) throw new CliError(`--uses must be a whole number from 1 to ${USES_MAX}, not "${text}"`);
  return Number(text);
}

const inviteText = (err: unknown) => (err instanceof InviteError ? new CliError(translator('en')(`invites.error.${err.code}` as never)) : err);

export function inviteCommands(program: Command, user: Command): void {
  const invite = program.command('invite').description('invite links: who may register, and the groups they join');

  invite
    .command('create')
    .description('make an invite link and print it (the only time it is shown); PUBLIC_URL gives its address')
    .option('--uses <n>', 'accounts it may create', '1')
    .option('--expires <time>', 'how long it works: 7d, 12h, 30m', '7d')
    .option('--group <name...>', 'groups the new accounts join (repeatable)')
    .option('--note <text>', 'a note to tell links apart')
    .action(async (opts: { uses: string; expires: string; group?: string[]; note?: string }) => {
      const uses = parseUses(opts.uses);
      const expiresAt = parseExpiry(opts.expires);
      const token = generateInviteToken();
      await withDatabase(async (database) => {
        const groups = await database.read(listGroups);
        const groupIds = (opts.group ?? []).map((name) => {
          const found = groups.find((g) => g.name === name.trim() && !g.builtin);
          if (!found) throw new CliError(`no group named "${name}"`);
          return found.id;
        });
        await database.write(createInvite, null, { uses, expiresAt, groupIds, note: opts.note?.trim() || null }, token).catch((err) => { throw inviteText(err); });
      });
      const base = config().publicUrl;
      console.log(base ? inviteUrl(base, token) : `token: ${token} (set PUBLIC_URL to print the whole link: <PUBLIC_URL>/register?invite=<token>)`);
      console.error(`works ${uses} time${uses === 1 ? '' : 's'} until ${expiresAt.toISOString()}${opts.group?.length ? `; joins ${opts.group.join(', ')}` : ''}`);
    });

  invite
    .command('list')
    .description('list invite links, newest first, with who used each')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const rows = await withDatabase((database) => database.read(listInvites, new Date(), 200));
      if (opts.json) return console.log(JSON.stringify(rows, null, 2));
      console.log(['id', 'link', 'state', 'used', 'expires', 'groups', 'used_by'].join('\t'));
      for (const r of rows) {
        console.log([r.id, `${r.prefix}…`, r.state, `${r.uses}/${r.maxUses}`, r.expiresAt, r.groups.map((g) => g.name).join(',') || '-', r.used.map((u) => u.username).join(',') || '-'].join('\t'));
      }
    });

  invite
    .command('revoke <id>')
    .description('withdraw an invite link (its id from invite list)')
    .action(async (id: string) => {
      if (!/^\d{1,15}$/.test(id)) throw new CliError(`"${id}" is not an invite id (see tokenchat invite list)`);
      await withDatabase((database) => database.write(revokeInvite, null, Number(id)).catch((err) => { throw inviteText(err); }));
      console.log(`revoked invite ${id}`);
    });

  user
    .command('approve <name>')
    .description('let an account waiting for approval (REGISTRATION_MODE=approval) in')
    .action(async (name: string) => {
      await withDatabase(async (database) => {
        const found = await userNamed(database, name);
        if (found.status !== 'pending') throw new CliError(`${found.username} is not waiting for approval`);
        await database.write(approveUser, null, found.id);
      });
      console.log(`approved ${name}`);
    });

  user
    .command('reject <name>')
    .description('refuse an account waiting for approval: it is disabled')
    .action(async (name: string) => {
      await withDatabase(async (database) => {
        const found = await userNamed(database, name);
        if (found.status !== 'pending') throw new CliError(`${found.username} is not waiting for approval`);
        await database.write(setDisabled, null, found.id, true);
        await sendSignal(database, { kind: 'stop_all', userId: found.id });
      });
      console.log(`rejected ${name} (disabled)`);
    });
}
