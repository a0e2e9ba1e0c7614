#!/usr/bin/env node
// The `tokenchat` command line. Errors print one line to stderr and exit non-zero.
import { Command, CommanderError } from 'commander';
import { CliError, config, userNamed, withDatabase } from './common';
import { ledgerCommands } from './ledger';
import { tokenCommands } from './tokens';
import { groupCommands } from './groups';
import { limitsCommands } from './limits';
import { allowanceCommands } from './allowance';
import { inviteCommands } from './invites';
import { breakGlassCommand } from './break-glass';
import { backupDataDir, migrateStore, openStore } from '../db';
import { translator } from '../i18n';
import { adoptModels, DEFAULT_MODELS_FILE, loadModels, pricesHash } from '../metering/models';
import { PasswordHasher } from '../accounts/passwords';
import { readNewPassword } from './secret-input';
import { passwordCommand } from './password';
import { createUser, listUsers, UserInputError } from '../accounts/users';
import { AdminError, setDisabled } from '../admin/actions';
import { sendSignal } from '../storage/signals';

// A reader that goes away (`tokenchat --help | head`, a pager quit early) is no error of ours: the
// command stops quietly with the status a shell gives a program ended by SIGPIPE (128 + 13), as
// git and coreutils do, instead of a stack trace for the EPIPE that Node raises in its place. Not
// the server's: its log goes on whether or not anyone reads it (log-sink.ts).
function readerGone(err: NodeJS.ErrnoException): void {
  if (err.code === 'EPIPE') process.exit(128 + 13);
  throw err;
}
process.stdout.on('error', readerGone);

const program = new Command('tokenchat')
  .description('Self-hosted, metered chat on OpenAI-compatible models')
  .showHelpAfterError()
  .exitOverride();

// The server (and the payment gateways' SDKs under it) is loaded only to serve: every other
// command starts in a fraction of the time (a CLI test spawns dozens of them).
program
  .command('serve')
  .description('start the web server (the default command of npm start); WEB_CONCURRENCY processes')
  .action(async () => {
    process.stdout.off('error', readerGone);
    await (await import('../cluster')).serve(config());
  });

program
  .command('migrate')
  .description('apply pending database migrations')
  .action(async () => {
    const database = openStore(config());
    try {
      const applied = await migrateStore(database);
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    } finally {
      await database.close();
    }
  });

program
  .command('backup <dir>')
  .description('copy the database and session secret into <dir>, safely while the server runs')
  .action(async (dir: string) => {
    const { dataDir } = config();
    const files = await backupDataDir(dataDir, dir);
    console.log(`backed up ${files.join(', ')} to ${dir}`);
  });

program
  .command('db')
  .description('move the data to another database')
  .command('copy')
  .description('copy the SQLite data directory (DATA_DIR) into an empty PostgreSQL database (--to), or a PostgreSQL database into a new DATA_DIR (--from), then verify the copy')
  .option('--to <url>', 'the PostgreSQL database to copy into: postgres://user:pass@host:5432/db')
  .option('--from <url>', 'the PostgreSQL database to copy from, into DATA_DIR (which must hold no database yet)')
  .option('--schema <name>', 'the schema in it (with --to: created if missing)')
  .action(async (opts: { to?: string; from?: string; schema?: string }) => {
    if (!opts.to === !opts.from) throw new CliError('give either --to <postgres url> or --from <postgres url>');
    const { dataDir, holdRecoveryMs } = config();
    const write = (line: string) => process.stderr.write(line);
    // Loaded here, as `serve` is: it brings PostgreSQL's driver, which no other command on SQLite needs.
    const { copyDataDir, copyIntoDataDir } = await import('./copy');
    const report = opts.to
      ? await copyDataDir(dataDir, opts.to, opts.schema, holdRecoveryMs, write)
      : await copyIntoDataDir(dataDir, opts.from!, opts.schema, holdRecoveryMs, write);
    for (const line of report) console.log(line);
  });

program
  .command('models')
  .description('the models file')
  .command('adopt')
  .description('make MODELS_FILE the one every server on this database must use (PostgreSQL; after giving it to every host)')
  .action(async () => {
    const { modelsFile } = config();
    const hash = pricesHash(loadModels(modelsFile)); // a bad file is refused here, not at the next start
    await withDatabase((database) => database.write(adoptModels, hash));
    console.log(`adopted ${modelsFile ?? DEFAULT_MODELS_FILE} (sha256 ${hash.slice(0, 12)}…); reload or restart every server to use it`);
  });

const user = program.command('user').description('manage accounts');

user
  .command('add <name>')
  .description('create an account; the password is read from stdin or a hidden prompt, never from argv')
  .option('--admin', 'make the account an administrator')
  .action(async (name: string, opts: { admin?: boolean }) => {
    const password = await readNewPassword();
    const { signupBonus } = config();
    await withDatabase(async (database) => {
      const role = opts.admin ? 'admin' : 'user';
      const created = await createUser(database, new PasswordHasher(1, 0), { username: name, password, role }, { signupBonus });
      console.log(`created ${created.role} ${created.username}`);
    });
  });

user
  .command('list')
  .description('list accounts')
  .option('--json', 'print JSON')
  .action(async (opts: { json?: boolean }) => {
    const rows = await withDatabase((database) => database.read(listUsers));
    if (opts.json) return console.log(JSON.stringify(rows, null, 2));
    console.log(['id', 'username', 'role', 'status', 'created'].join('\t'));
    for (const u of rows) {
      console.log([u.id, u.username, u.role, u.disabled ? 'disabled' : u.status === 'pending' ? 'waiting' : 'active', u.created_at].join('\t'));
    }
  });

for (const [command, disabled] of [['disable', true], ['enable', false]] as const) {
  user
    .command(`${command} <name>`)
    .description(disabled ? 'disable an account and end its sessions' : 'enable a disabled account')
    .action(async (name: string) => {
      // The admin pages' operation, audited as by the command line; a disabled user's answers
      // streaming on any server process are stopped as from the admin pages (on PostgreSQL).
      await withDatabase(async (database) => {
        const user = await userNamed(database, name);
        await database.write(setDisabled, null, user.id, disabled);
        if (disabled) await sendSignal(database, { kind: 'stop_all', userId: user.id });
      });
      console.log(`${command}d ${name}`);
    });
}

passwordCommand(user); // user password <name> [--must-change]

ledgerCommands(program);
tokenCommands(program);
groupCommands(program);
limitsCommands(program);
allowanceCommands(program);
inviteCommands(program, user);
breakGlassCommand(user);

program.addHelpText(
  'after',
  `
All commands:
  tokenchat serve                       start the web server
  tokenchat migrate                     apply pending database migrations
  tokenchat backup <dir>                copy the data directory safely while the server runs
  tokenchat user add <name> [--admin]   create an account (password from stdin or a prompt)
  tokenchat user list [--json]          list accounts
  tokenchat user disable <name>         disable an account and end its sessions
  tokenchat user enable <name>          enable a disabled account
  tokenchat user password <name> [--must-change]   reset a password (from stdin or a prompt); end its sessions
  tokenchat grant <user> <amount> [--note T]   add tokens (negative deducts, never below zero)
  tokenchat balance <user>              print a balance
  tokenchat ledger verify               check every ledger invariant; exit 1 naming violations
  tokenchat db copy --to postgres://…   copy DATA_DIR's SQLite data into an empty PostgreSQL database
  tokenchat db copy --from postgres://… copy a PostgreSQL database into a new DATA_DIR
  tokenchat models adopt                make MODELS_FILE the one all servers on the database must use
  tokenchat codes create --tokens N --count K [--expires DATE] [--note T]
                                        print new single-use redemption codes
  tokenchat tokens count --model M [--json] < request.json
                                        prompt tokens of a chat-completions request
  tokenchat limits set --group G|--user U [--tokens-per-day N|none] [--tokens-per-month N|none]
      [--requests-per-minute N|none] [--requests-per-hour N|none] [--answers-at-once N|none]
                                        set limits members cannot lift
  tokenchat limits show --user U [--json]   the limits that apply to a user, and from where
  tokenchat group import <group> <file.csv> [--apply] [--passwords FILE]
                                        import a roster into a group (a dry run without --apply)
  tokenchat allowance set --group G --amount N|none [--period day|week|month] [--mode reset|add]
      [--cap N] [--join full|prorata] [--apply now|next]
                                        set a group's allowance, which refills each period
  tokenchat allowance show --group G [--json]   a group's allowance and its members' buckets
  tokenchat allowance zone [<IANA zone>]   show or set the time zone periods count in
  tokenchat invite create [--uses N] [--expires 7d] [--group G...] [--note T]
                                        print a new invite link (PUBLIC_URL/register?invite=…)
  tokenchat invite list [--json]        invite links with their state and who used each
  tokenchat invite revoke <id>          withdraw an invite link
  tokenchat user approve <name>         let an account waiting for approval in
  tokenchat user reject <name>          refuse (disable) an account waiting for approval
  tokenchat user break-glass <name> on|off   may sign in with a password when PASSWORD_SIGNIN=off

Settings come from the environment (and ./.env when present); see .env.example.`,
);

function reason(err: unknown): string {
  if (err instanceof UserInputError) return translator('en')(`error.${err.code}` as never);
  if (err instanceof AdminError) return translator('en')(`admin.error.${err.code}`, err.vars);
  return (err as Error).message ?? String(err);
}

program.parseAsync(process.argv).catch((err: unknown) => {
  // Commander already printed it. Not process.exit: a reader gone meanwhile (help piped to head)
  // still ends the command with its status (readerGone), whichever is heard of first.
  if (err instanceof CommanderError) return void (process.exitCode = err.exitCode);
  console.error(`tokenchat: ${reason(err).split('\n')[0]}`);
  process.exit(1);
});
