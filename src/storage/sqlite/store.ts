// The SQLite store: one better-sqlite3 connection to DATA_DIR/tokenchat.sqlite in WAL mode, the
// migrations runner, and the driver that runs operations (storage/op.ts) synchronously: reads
// straight away, writes through the group commit in BEGIN IMMEDIATE transactions.
import fs from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import type { Op, Step, Store } from '../op';
import type { Queries, QueryName } from '../queries';
import { GroupCommit, LOCK_SLICE_MS } from './group-commit';
import { SQLITE } from './sql';

type Raw = SqliteDatabase.Database;
const BUSY_TIMEOUT_MS = 5000;
export const MIGRATIONS_DIR = path.join(__dirname, '..', '..', '..', 'migrations');

export function appDbPath(dataDir: string): string {
  return path.join(dataDir, 'tokenchat.sqlite');
}

/** Runs the steps of an operation on the connection, one prepared statement per query name. */
function drive<T>(op: Op<T>, exec: (step: Step) => unknown): T {
  let next = op.next();
  try {
    while (!next.done) next = op.next(exec(next.value));
    return next.value;
  } finally {
    if (!next.done) op.return(undefined as T); // a statement threw: run the operation's finally blocks
  }
}

export class SqliteStore implements Store {
  readonly dialect = 'sqlite' as const;
  /** The connection itself: for migrations, backups and tests, never for domain code. */
  readonly raw: Raw;
  private readonly statements = new Map<QueryName, (params: object) => unknown>();
  private readonly writer: GroupCommit;
  private closed = false;
  private readonly exec = (step: Step) => this.statement(step.name)(step.params);

  constructor(file: string) {
    // A short busy timeout: better-sqlite3 waits for a lock with the event loop blocked. Writes wait
    // for the write lock in the group commit instead, trying again with the loop free; reads (WAL)
    // do not wait for writers.
    this.raw = new SqliteDatabase(file, { timeout: LOCK_SLICE_MS });
    this.raw.pragma('journal_mode = WAL');
    this.raw.pragma('synchronous = NORMAL');
    this.raw.pragma('foreign_keys = ON');
    this.writer = new GroupCommit(this.raw, BUSY_TIMEOUT_MS);
  }

  private statement(name: QueryName): (params: object) => unknown {
    let call = this.statements.get(name);
    if (call) return call;
    const text = SQLITE[name];
    if (text.mode === 'none') {
      call = () => ({ changes: 0 });
      this.statements.set(name, call);
      return call;
    }
    if (text.mode === 'script') {
      call = this.script(name, text.steps);
      this.statements.set(name, call);
      return call;
    }
    const s = this.raw.prepare(text.sql);
    switch (text.mode) {
      case 'get': call = (p) => s.get(p); break;
      case 'all': call = (p) => s.all(p); break;
      case 'value': s.pluck(); call = (p) => s.get(p); break;
      case 'values': s.pluck(); call = (p) => s.all(p); break;
      case 'run': call = (p) => ({ changes: s.run(p).changes }); break;
    }
    this.statements.set(name, call);
    return call;
  }

  /** A `script` text (see Text in op.ts): its statements in order, each given what earlier ones returned. */
  private script(name: QueryName, steps: string[]): (params: object) => unknown {
    // Whether a step that returns rows also writes (INSERT/UPDATE/DELETE ... RETURNING): known once, here.
    // Each step is bound with exactly the names it reads, by an object literal made for it: one
    // shape every call. Copying the query's parameters and adding each row's columns, as this did,
    // turned the copy into a dictionary (past V8's fast properties) on every call: 10 to 40 µs a
    // script, against 1 to 2 µs. The names are `@identifier`s of this file's own SQL texts.
    const statements = steps.map((sql) => ({ s: this.raw.prepare(sql), writes: /^\s*(INSERT|UPDATE|DELETE)/i.test(sql), bind: binder(sql) }));
    return (params) => {
      const given = params as Record<string, unknown>;
      const answer: Record<string, unknown> = {};
      let changed = false;
      for (const { s, writes, bind } of statements) {
        const bound = bind(answer, given);
        if (!s.reader) {
          changed = s.run(bound).changes > 0 || changed;
          continue;
        }
        const row = s.get(bound) as Record<string, unknown> | undefined;
        if (!row) {
          if (changed) throw new Error(`query ${name}: a step found nothing after an earlier one wrote`);
          return undefined;
        }
        changed ||= writes;
        Object.assign(answer, row);
      }
      return answer;
    };
  }

  once<K extends QueryName>(name: K, params: Queries[K]['params']): Promise<Queries[K]['result']> {
    const call = this.statement(name);
    return this.writer.submit(() => call(params as object) as Queries[K]['result']);
  }

  read<A extends unknown[], T>(op: (...args: A) => Op<T>, ...args: A): Promise<T> {
    try {
      return Promise.resolve(drive(op(...args), this.exec));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  write<A extends unknown[], T>(op: (...args: A) => Op<T>, ...args: A): Promise<T> {
    return this.writer.submit(() => drive(op(...args), this.exec));
  }

  private pingStatement?: SqliteDatabase.Statement;

  async ping(): Promise<boolean> {
    try {
      this.pingStatement ??= this.raw.prepare('SELECT 1').pluck();
      return this.pingStatement.get() === 1;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.raw.close();
  }
}

/** Opens (creating if needed) the app database under dataDir. */
export function openSqlite(dataDir: string): SqliteStore {
  fs.mkdirSync(dataDir, { recursive: true });
  return new SqliteStore(appDbPath(dataDir));
}

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 3)), name: f, sql: fs.readFileSync(path.join(dir, f), 'utf8') }));
}

/**
 * Applies every migration not yet recorded, each in its own transaction. BEGIN IMMEDIATE takes the
 * write lock first, so two processes starting at once apply each migration exactly once.
 * Returns the names applied by this call.
 */
export function migrateSqlite(store: SqliteStore, migrations = readMigrations()): string[] {
  const { raw } = store;
  // At start-up nothing else runs yet: another process's migration is waited for here, blocking.
  raw.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  try {
    return migrateLocked(raw, migrations);
  } finally {
    raw.pragma(`busy_timeout = ${LOCK_SLICE_MS}`);
  }
}

function migrateLocked(raw: Raw, migrations: Migration[]): string[] {
  raw.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))`);
  const applied: string[] = [];
  const isApplied = raw.prepare('SELECT 1 FROM schema_migrations WHERE version = ?');
  const record = raw.prepare('INSERT INTO schema_migrations (version, name) VALUES (?, ?)');
  for (const m of migrations) {
    raw.exec('BEGIN IMMEDIATE');
    try {
      if (!isApplied.get(m.version)) {
        raw.exec(m.sql);
        record.run(m.version, m.name);
        applied.push(m.name);
      }
      raw.exec('COMMIT');
    } catch (err) {
      raw.exec('ROLLBACK');
      throw new Error(`migration ${m.name} failed: ${(err as Error).message}`);
    }
  }
  return applied;
}

/**
 * Copies the app database with SQLite's online backup (consistent while the server writes) and
 * the session secret into `dir`. Sessions are left out: after a restore users sign in again.
 */
export async function backupDataDir(dataDir: string, dir: string): Promise<string[]> {
  const source = appDbPath(dataDir);
  if (!fs.existsSync(source)) throw new Error(`no database at ${source}`);
  fs.mkdirSync(dir, { recursive: true });
  const target = path.join(dir, path.basename(source));
  if (fs.existsSync(target)) throw new Error(`${target} already exists; choose an empty directory`);
  const raw = new SqliteDatabase(source, { readonly: true, timeout: BUSY_TIMEOUT_MS });
  try {
    await raw.backup(target);
  } finally {
    raw.close();
  }
  const copied = [path.basename(source)];
  const secret = path.join(dataDir, 'session-secret');
  if (fs.existsSync(secret)) {
    fs.copyFileSync(secret, path.join(dir, 'session-secret'));
    fs.chmodSync(path.join(dir, 'session-secret'), 0o600);
    copied.push('session-secret');
  }
  return copied;
}

/**
 * The parameters of one statement of a script, as an object literal: each `@name` it reads from
 * the columns an earlier step returned (`answer`), else from the query's parameters (`given`).
 */
function binder(sql: string): (answer: Record<string, unknown>, given: Record<string, unknown>) => Record<string, unknown> {
  const names = [...new Set(sql.match(/@[A-Za-z_]\w*/g) ?? [])].map((n) => n.slice(1));
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- compiled once per statement, from identifiers only
  return new Function('answer', 'given', `return { ${names.map((n) => `${n}: '${n}' in answer ? answer.${n} : given.${n}`).join(', ')} };`) as ReturnType<typeof binder>;
}
