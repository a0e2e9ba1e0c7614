// tokenchat user break-glass <name> on|off: an account that may sign in with a password while
// PASSWORD_SIGNIN=off leaves everyone else to the organisation's OpenID provider. Audited.
import type { Command } from 'commander';
import { setBreakGlass } from '../oidc/admin';
import { CliError, userNamed, withDatabase } from './common';

export function breakGlassCommand(user: Command): void {
  user
    .command('break-glass <name> <on|off>')
    .description('let an account sign in with a password when PASSWORD_SIGNIN=off (on), or not (off)')
    .action(async (name: string, state: string) => {
      if (state !== 'on' && state !== 'off') throw new CliError('say on or off');
      await withDatabase(async (database) => {
        const found = await userNamed(database, name);
        await database.write(setBreakGlass, null, found.username, state === 'on');
      });
      console.log(`break-glass password sign-in ${state} for ${name}`);
    });
}
