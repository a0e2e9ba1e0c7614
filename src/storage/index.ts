// Which database the server keeps its data in: SQLite files under DATA_DIR (the default), or
// PostgreSQL with DATABASE_URL, for several processes on several hosts. Everything outside
// storage/ sees only the Store interface (op.ts) and a session store.
import type { Config } from '../config';
import type { PostgresStore } from './postgres/store';
import { postgresSessions, postgresStore } from './postgres-modules';
import { openSqliteSessionStore, type SessionStore } from './sqlite/session-store';
import { migrateSqlite, openSqlite, type SqliteStore } from './sqlite/store';

export type { SessionStore } from './sqlite/session-store';
export type AppStore = SqliteStore | PostgresStore;
type Where = Pick<Config, 'dataDir' | 'databaseUrl' | 'databasePoolSize' | 'sessionIdleMs'> & Partial<Pick<Config, 'databaseTimeouts'>> & { databaseSchema?: string };

/** Opens the app database the configuration names; `schema` (PostgreSQL) keeps tests apart. */
export function openStore(config: Where, schema = config.databaseSchema): AppStore {
  if (!config.databaseUrl) return openSqlite(config.dataDir);
  return new (postgresStore().PostgresStore)(config.databaseUrl, { poolSize: config.databasePoolSize, schema, timeouts: config.databaseTimeouts });
}

/** Applies pending migrations; safe when several processes start at once. Returns the names applied. */
export async function migrateStore(store: AppStore): Promise<string[]> {
  return store.dialect === 'sqlite' ? migrateSqlite(store) : postgresStore().migratePostgres(store, undefined, store.schema);
}

/** Sessions beside the app data: sessions.sqlite under DATA_DIR, or the sessions table in PostgreSQL. */
export function openSessionStore(config: Where, store: AppStore): SessionStore {
  if (store.dialect === 'sqlite') return openSqliteSessionStore(config);
  const pgStore = new (postgresSessions().PostgresSessionStore)({
    pool: store.pool, tableName: 'sessions', schemaName: store.schema, createTableIfMissing: false,
    ttl: Math.ceil(config.sessionIdleMs / 1000), pruneSessionInterval: 15 * 60,
  });
  // The pool belongs to the app store, which closes it; this only stops the pruning timer.
  return { store: pgStore, close: async () => pgStore.close() };
}
