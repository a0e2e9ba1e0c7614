// `tokenchat db copy`: opens both databases, copies with a progress line per table, and says what
// was copied and verified; any refusal or difference is a one-line CLI error (exit 1). --to moves
// DATA_DIR's SQLite data into PostgreSQL; --from brings PostgreSQL's into a new DATA_DIR.
import fs from 'node:fs';
import { CliError } from './common';
import { appDbPath, migrate, openDatabase } from '../db';
import { CopyError, copySqliteToPostgres, type CopyReport } from '../storage/copy';
import { copyPostgresToSqlite } from '../storage/copy-back';
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
  const bar = progressBar(write);
  try {
    await migratePostgres(target, undefined, schema);
    const report = await copySqliteToPostgres(source, target, () => verifyLedger(recoveryWindowMs), bar);
    return summary(report, 'PostgreSQL');
  } catch (err) {
    if (err instanceof CopyError) throw new CliError(err.message);
    throw err;
  } finally {
    await source.close();
    await target.close();
  }
}

/** `--from`: PostgreSQL into DATA_DIR, which must not hold a database yet (a failed copy leaves none). */
export async function copyIntoDataDir(
  dataDir: string, url: string, schema: string | undefined, recoveryWindowMs: number, write: (text: string) => void,
): Promise<string[]> {
  if (!/^postgres(ql)?:\/\//.test(url)) throw new CliError(`--from must be a postgres:// URL, not "${url}"`);
  const file = appDbPath(dataDir);
  if (fs.existsSync(file)) throw new CliError(`${file} exists already: set DATA_DIR to a new directory to copy into`);
  let source: PostgresStore;
  try {
    source = new PostgresStore(url, { poolSize: 2, schema });
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const target = openDatabase(dataDir);
  let copied = false;
  try {
    migrate(target);
    const report = await copyPostgresToSqlite(source, target, () => verifyLedger(recoveryWindowMs), progressBar(write));
    copied = true;
    return summary(report, 'SQLite');
  } catch (err) {
    if (err instanceof CopyError) throw new CliError(err.message);
    throw err;
  } finally {
    await source.close();
    await target.close();
    if (!copied) for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
  }
}

function summary<V>(report: CopyReport<V>, into: string): string[] {
  if (report.violations.length) {
    throw new CliError(`copied, but ledger verify found ${report.violations.length} problem(s) in the copy: ${JSON.stringify(report.violations.slice(0, 3))}`);
  }
  const total = Object.values(report.rows).reduce((s, n) => s + n, 0);
  return [
    `copied ${total.toLocaleString('en')} rows (${report.users.toLocaleString('en')} users) into ${into}`,
    'verified: row counts and every balance match, ledger verify is clean',
    'sessions were not copied: users sign in again',
  ];
}

function progressBar(write: (text: string) => void) {
  return (table: string, done: number, total: number) => {
    const width = 30;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    write(`\r${table.padEnd(18)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done.toLocaleString('en')}/${total.toLocaleString('en')}${done === total ? '\n' : ''}`);
  };
}
