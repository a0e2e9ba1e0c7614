// The app database as the CLI, benchmarks and tests open it: SQLite under DATA_DIR, or PostgreSQL
// with DATABASE_URL (storage/index.ts). Domain code sees only the Store interface of storage/op.ts.
export { appDbPath, backupDataDir, MIGRATIONS_DIR, readMigrations, type Migration } from './storage/sqlite/store';
import { migrateSqlite, openSqlite, readMigrations, type SqliteStore } from './storage/sqlite/store';
export { pageOf, pageWindow } from './storage/op';
export { migrateStore, openStore, type AppStore } from './storage';

/** A SQLite database: what most tests and the benchmarks open directly. */
export type Database = SqliteStore;
export const openDatabase = openSqlite;
export const migrate = (database: Database, migrations = readMigrations()): string[] => migrateSqlite(database, migrations);
