// SQLite cannot change a CHECK, so some migrations rebuild a table (019: the ledger and the audit
// log; 020: users, which every table references). Upgrading a database with rows in it must keep
// every row and every foreign key.
import fs from 'node:fs';
import path from 'node:path';
import { migrateSqlite, readMigrations, SqliteStore } from '../src/storage/sqlite/store';
import { tempDir } from './helpers';

/**
 * A SQLite database as a release before migration `version` left it, for `fn` to fill with rows;
 * `upgrade()` applies the rest and answers their names (`pending`: those from `version` on), and
 * `fn` reads what they made of the rows. Closed and removed afterwards.
 */
async function beforeMigration(version: number, fn: (db: { raw: SqliteStore['raw']; upgrade: () => string[]; pending: string[] }) => void): Promise<void> {
  const dir = tempDir();
  const store = new SqliteStore(path.join(dir, 'app.db'));
  try {
    const all = readMigrations();
    migrateSqlite(store, all.filter((m) => m.version < version));
    fn({ raw: store.raw, upgrade: () => migrateSqlite(store, all), pending: all.filter((m) => m.version >= version).map((m) => m.name) });
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('the table rebuilds of migrations 019 and 020 keep the rows and the foreign keys of a database in use', async () => {
  await beforeMigration(19, ({ raw, upgrade, pending }) => {
    raw.exec(`INSERT INTO users (id, username, username_key, password_hash, role) VALUES (1, 'alice', 'alice', '$argon2id$x', 'admin'), (2, 'bob', 'bob', '$argon2id$y', 'user');
      INSERT INTO balances (user_id, balance) VALUES (1, 100), (2, 5);
      INSERT INTO ledger (user_id, kind, amount, balance_after, note) VALUES (1, 'grant', 100, 100, 'welcome'), (2, 'grant', 5, 5, NULL);
      INSERT INTO admin_audit (actor_id, action, target_user_id, detail) VALUES (1, 'grant', 2, '{"amount":5}');
      INSERT INTO conversations (user_id, title) VALUES (1, 'hello');`);
    expect(upgrade()).toEqual(pending);
    expect(raw.prepare('PRAGMA foreign_key_check').all()).toEqual([]);
    expect(raw.prepare('SELECT id, username, role FROM users ORDER BY id').all()).toEqual([{ id: 1, username: 'alice', role: 'admin' }, { id: 2, username: 'bob', role: 'user' }]);
    expect(raw.prepare('SELECT user_id AS u, kind, amount, note FROM ledger ORDER BY id').all()).toEqual([
      { u: 1, kind: 'grant', amount: 100, note: 'welcome' }, { u: 2, kind: 'grant', amount: 5, note: null },
    ]);
    expect(raw.prepare('SELECT action, detail FROM admin_audit').all()).toEqual([{ action: 'grant', detail: '{"amount":5}' }]);
    // The new rules hold, and the old ones still do.
    raw.prepare("INSERT INTO users (username, username_key, password_hash) VALUES ('小明', '小明', '$argon2id$z')").run();
    expect(() => raw.prepare("INSERT INTO ledger (user_id, kind, amount, balance_after) VALUES (99, 'grant', 1, 1)").run()).toThrow('FOREIGN KEY');
    expect(() => raw.prepare("INSERT INTO ledger (user_id, kind, amount, balance_after) VALUES (1, 'purchase', 1, 1)").run()).toThrow('CHECK');
    expect(() => raw.prepare("INSERT INTO users (username, username_key, password_hash) VALUES ('x', 'x', '$argon2id$z')").run()).toThrow('CHECK');
  });
});

test('migration 022 turns each conversation into one thread: every message follows the one before it, the last one shown', async () => {
  await beforeMigration(22, ({ raw, upgrade }) => {
    raw.exec(`INSERT INTO users (id, username, username_key, password_hash, role) VALUES (1, 'alice', 'alice', '$argon2id$x', 'user');
      INSERT INTO conversations (id, user_id, title) VALUES (1, 1, 'one'), (2, 1, 'two'), (3, 1, 'empty');
      INSERT INTO messages (id, conversation_id, role, content) VALUES (1, 1, 'user', 'Q1'), (2, 2, 'user', 'other'), (3, 1, 'assistant', 'A1'),
        (4, 1, 'user', 'Q2'), (5, 2, 'assistant', 'other answer'), (6, 1, 'assistant', 'A2');`);
    upgrade();
    expect(raw.prepare('SELECT id, parent_id AS parent FROM messages ORDER BY id').all()).toEqual([
      { id: 1, parent: null }, { id: 2, parent: null }, { id: 3, parent: 1 }, { id: 4, parent: 3 }, { id: 5, parent: 2 }, { id: 6, parent: 4 },
    ]);
    expect(raw.prepare('SELECT id, leaf_id AS leaf FROM conversations ORDER BY id').all()).toEqual([{ id: 1, leaf: 6 }, { id: 2, leaf: 5 }, { id: 3, leaf: null }]);
  });
});
