// Admin actions as domain functions: each checks, inside its transaction, that the actor is still
// an enabled admin, and a code batch is written with its codes and audit row at once.
import { createBatch, grantTokens } from '../src/admin';
import { HttpError } from '../src/http-error';
import { balanceOf, openAccount } from '../src/ledger';
import { openTempDatabase } from './helpers';

let temp: ReturnType<typeof openTempDatabase>;
beforeEach(() => {
  temp = openTempDatabase();
});
afterEach(() => temp.close());

function user(name: string, role: 'user' | 'admin'): number {
  return Number(
    temp.database.raw
      .prepare(`INSERT INTO users (username, username_key, password_hash, role) VALUES (?, ?, '$argon2id$x', ?)`)
      .run(name, name, role).lastInsertRowid,
  );
}

test('an admin demoted while a request waited can no longer grant: 404, and nothing is written', async () => {
  const { database } = temp;
  const raw = database.raw;
  const admin = user('boss', 'admin');
  const member = user('member', 'user');
  await database.write(openAccount, member, 100);
  expect(await database.write(grantTokens, admin, member, 50, 'thanks')).toBe(150);
  raw.prepare(`UPDATE users SET role = 'user' WHERE id = ?`).run(admin);
  const rows = () => raw.prepare('SELECT count(*) FROM ledger').pluck().get();
  const before = rows();
  let thrown: unknown;
  try {
    await database.write(grantTokens, admin, member, 50, 'again');
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(HttpError);
  expect((thrown as HttpError).status).toBe(404);
  expect(rows()).toBe(before);
  expect(await database.read(balanceOf, member)).toBe(150);
  expect(raw.prepare(`SELECT count(*) FROM admin_audit`).pluck().get()).toBe(1);
});

test('a code batch is written with its codes and its audit row together', async () => {
  const raw = temp.database.raw;
  const admin = user('boss', 'admin');
  const { batchId, codes } = await createBatch(temp.database, admin, { tokens: 500, count: 3, note: 'class of 2026' });
  expect(codes).toHaveLength(3);
  expect(raw.prepare('SELECT batch_id FROM redemption_codes').pluck().all()).toEqual([batchId, batchId, batchId]);
  expect(raw.prepare(`SELECT action FROM admin_audit`).pluck().all()).toEqual(['codes_create']);
  await expect(createBatch(temp.database, admin, { tokens: 0, count: 3 })).rejects.toThrow('tokens must be a whole number');
  expect(raw.prepare('SELECT count(*) FROM code_batches').pluck().get()).toBe(1);
});
