// The app database: today SQLite under DATA_DIR (storage/sqlite). Domain code sees only the
// Store interface of storage/op.ts; `raw` is for migrations, backups and tests.
export { appDbPath, backupDataDir, MIGRATIONS_DIR, readMigrations, type Migration } from './storage/sqlite/store';
import { migrateSqlite, openSqlite, readMigrations, type SqliteStore } from './storage/sqlite/store';
export { pageOf, pageWindow } from './storage/op';

export type Database = SqliteStore;
export const openDatabase = openSqlite;
export const migrate = (database: Database, migrations = readMigrations()): string[] => migrateSqlite(database, migrations);
