// Ledger commands: grant, balance, ledger verify, codes create.
import type { Command } from 'commander';
import { createCodes } from '../ledger/codes';
import { CliError, config, parseAmount, userNamed, withDatabase } from './common';
import { grantTokens } from '../admin/actions';
import { balanceOf } from '../ledger/ledger';
import { verifyLedger } from '../ledger/verify';

function parseExpiry(text: string): Date {
  const date = /^\d{4}-\d{2}-\d{2}$/.test(text) ? new Date(`${text}T23:59:59.999Z`) : new Date(text);
  if (Number.isNaN(date.getTime())) throw new CliError(`--expires must be a date such as 2027-01-31, not "${text}"`);
  if (date.getTime() <= Date.now()) throw new CliError(`--expires must be in the future, not "${text}"`);
  return date;
}

export function ledgerCommands(program: Command): void {
  program
    .command('grant <user> <amount>')
    .description('add tokens to a balance (negative deducts, never below zero)')
    .option('--note <text>', 'why, kept in the ledger')
    .allowUnknownOption() // so that "-500" is read as an amount, not an option
    .action(async (name: string, amountText: string, opts: { note?: string }) => {
      const amount = parseAmount(amountText, { allowNegative: true });
      if (opts.note !== undefined && opts.note.length > 500) throw new CliError('--note must be at most 500 characters');
      // The admin pages' operation: the ledger row and an audit row (by the command line) in one write.
      const balance = await withDatabase(async (database) => {
        const user = await userNamed(database, name);
        return database.write(grantTokens, null, user.id, amount, opts.note);
      });
      console.log(`${amount > 0 ? 'granted' : 'deducted'} ${Math.abs(amount)}; ${name} now has ${balance}`);
    });

  program
    .command('balance <user>')
    .description("print a user's balance")
    .action(async (name: string) => {
      const balance = await withDatabase(async (database) => database.read(balanceOf, (await userNamed(database, name)).id));
      console.log(String(balance));
    });

  program
    .command('ledger')
    .description('ledger checks')
    .command('verify')
    .description('check balance == sum of ledger deltas, no negative balance, no stale hold; exit 1 on any violation')
    .action(async () => {
      const { holdRecoveryMs } = config();
      const violations = await withDatabase(async (database) => database.read(verifyLedger, holdRecoveryMs));
      for (const v of violations) {
        console.error(`violation: ${v.userId !== undefined ? `user ${v.userId}: ` : ''}${v.holdId !== undefined ? `hold ${v.holdId}: ` : ''}${v.problem}`);
      }
      if (violations.length) throw new CliError(`${violations.length} violation${violations.length === 1 ? '' : 's'}`);
      console.log('ledger ok');
    });

  program
    .command('codes')
    .description('redemption codes')
    .command('create')
    .description('print new single-use redemption codes (shown once; only their hashes are stored)')
    .requiredOption('--tokens <n>', 'tokens each code is worth')
    .requiredOption('--count <k>', 'how many codes')
    .option('--expires <date>', 'last day a code can be redeemed (YYYY-MM-DD, UTC) or an ISO time')
    .option('--note <text>', 'what the batch is for')
    .action(async (opts: { tokens: string; count: string; expires?: string; note?: string }) => {
      const tokens = parseAmount(opts.tokens, { allowNegative: false });
      if (!/^\d{1,5}$/.test(opts.count) || Number(opts.count) < 1 || Number(opts.count) > 10_000) {
        throw new CliError(`--count must be a whole number from 1 to 10000, not "${opts.count}"`);
      }
      const expiresAt = opts.expires === undefined ? undefined : parseExpiry(opts.expires);
      const codes = await withDatabase(async (database) => createCodes(database, { tokens, count: Number(opts.count), expiresAt, note: opts.note }));
      console.log(codes.join('\n'));
    });
}
