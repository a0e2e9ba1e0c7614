// `tokenchat db copy`: opens both databases, copies with a progress line per table, and says what
// was copied and verified; any refusal or difference is a one-line CLI error (exit 1).
import fs from 'node:fs';
import { CliError } from './common';
import { appDbPath, openDatabase } from '../db';
import { CopyError, copySqliteToPostgres } from '../storage/copy';
import { verifyLedger } from '../ledger/verify';
import { migratePostgres, PostgresStore } from '../storage/postgres/store';

export async function copyDataDir(
  dataDir: string, url: string, schema: string | undefined, recoveryWindowMs: number, write: (text: string) => void,
): Promise<string[]> {
  if (!/^postgres(ql)?:\/\//.test(url)) throw new CliError(`--to must be a postgres:// URL, not "${url}"`);
  if (!fs.existsSync(appDbPath(dataDir))) throw new CliError(`no database at ${appDbPath(dataDir)}: set DATA_DIR to the directory to copy`);
  const source = openDatabase(dataDir);
  let target: PostgresStore;
  try {
    target = new PostgresStore(url, { poolSize: 2, schema });
  } catch (err) {
    source.raw.close();
    throw new CliError((err as Error).message);
  }
  const bar = (table: string, done: number, total: number) => {
    const width = 30;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    write(`\r${table.padEnd(18)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done.toLocaleString('en')}/${total.toLocaleString('en')}${done === total ? '\n' : ''}`);
  };
  try {
    await migratePostgres(target, undefined, schema);
    const report = await copySqliteToPostgres(source, target, () => verifyLedger(recoveryWindowMs), bar);
    if (report.violations.length) {
      throw new CliError(`copied, but ledger verify found ${report.violations.length} problem(s) in the copy: ${JSON.stringify(report.violations.slice(0, 3))}`);
    }
    const total = Object.values(report.rows).reduce((s, n) => s + n, 0);
    return [
      `copied ${total.toLocaleString('en')} rows (${report.users.toLocaleString('en')} users) into PostgreSQL`,
      'verified: row counts and every balance match, ledger verify is clean',
      'sessions were not copied: users sign in again',
    ];
  } catch (err) {
    if (err instanceof CopyError) throw new CliError(err.message);
    throw err;
  } finally {
    await source.close();
    await target.close();
  }
}
