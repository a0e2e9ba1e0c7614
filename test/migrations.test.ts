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

test('migration 033 moves the count of open holds taken whole from one bucket onto that bucket, and leaves the others on the balance row', async () => {
  await beforeMigration(33, ({ raw, upgrade }) => {
    raw.exec(`INSERT INTO users (id, username, username_key, password_hash) VALUES (1, 'ming', 'ming', '$argon2id$x');
      INSERT INTO balances (user_id, balance, open_holds) VALUES (1, 900, 3);
      INSERT INTO groups (id, name) VALUES (7, 'Class 3');
      INSERT INTO allowances (id, user_id, group_id, group_name, balance, size, period, ends_at) VALUES (5, 1, 7, 'Class 3', 100, 500, '2026-12', '2027-01-01T00:00:00.000Z');
      INSERT INTO holds (user_id, turn_key, model, amount, prompt_tokens, max_completion, prompt_rate, completion_rate, parts) VALUES
        (1, 'whole', 'demo', 200, 100, 100, 1, 1, '[{"a":5,"n":200,"e":"2027-01-01T00:00:00.000Z"}]'),
        (1, 'split', 'demo', 200, 100, 100, 1, 1, '[{"a":5,"n":100,"e":"2027-01-01T00:00:00.000Z"}]'),
        (1, 'own', 'demo', 200, 100, 100, 1, 1, NULL);
      INSERT INTO holds (user_id, turn_key, model, amount, prompt_tokens, max_completion, prompt_rate, completion_rate, parts, state) VALUES
        (1, 'closed', 'demo', 200, 100, 100, 1, 1, '[{"a":5,"n":200,"e":"2027-01-01T00:00:00.000Z"}]', 'settled');`);
    upgrade();
    expect(raw.prepare('SELECT open_holds FROM balances WHERE user_id = 1').pluck().get()).toBe(2);
    expect(raw.prepare('SELECT open_holds FROM allowances WHERE id = 5').pluck().get()).toBe(1);
  });
});
