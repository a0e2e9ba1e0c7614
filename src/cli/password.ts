// `tokenchat user password <name> [--must-change]`: the admin page's password reset from the command
// line, audited as by the command line. The password is read from stdin or a hidden prompt, never
// from argv; the account's sessions end; --must-change sends its next sign-in to the change page.
import type { Command } from 'commander';
import { config, userNamed, withDatabase } from './common';
import { readNewPassword } from './secret-input';
import { PasswordHasher } from '../accounts/passwords';
import { checkPassword } from '../accounts/users';
import { resetPassword } from '../admin/actions';

export function passwordCommand(user: Command): void {
  user
    .command('password <name>')
    .description("reset an account's password (from stdin or a hidden prompt) and end its sessions")
    .option('--must-change', 'make them choose a new one at their next sign-in')
    .action(async (name: string, opts: { mustChange?: boolean }) => {
      const password = checkPassword(await readNewPassword());
      const { hashConcurrency } = config();
      await withDatabase(async (database) => {
        const target = await userNamed(database, name);
        const hash = await new PasswordHasher(hashConcurrency, 0).hash(password);
        await database.write(resetPassword, null, target.id, hash, opts.mustChange === true);
      });
      console.log(`password of ${name} reset${opts.mustChange ? '; it must be changed at the next sign-in' : ''}; its sessions have ended`);
    });
}
