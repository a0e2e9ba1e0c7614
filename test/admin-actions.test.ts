// Admin actions as domain functions: each checks, inside its transaction, that the actor is still
// an enabled admin, and a code batch is written with its codes and audit row at once.
import { createBatch, grantTokens, NotAnAdmin } from '../src/admin/actions';
import { toHttpError } from '../src/http/errors';
import { balanceOf, openAccount } from '../src/ledger/ledger';
import { openTempDatabase } from './helpers';

let temp: Awaited<ReturnType<typeof openTempDatabase>>;
beforeEach(async () => {
  temp = await openTempDatabase();
});
afterEach(() => temp.close());

async function user(name: string, role: 'user' | 'admin'): Promise<number> {
  return Number(
    await temp.sql.value(
      `INSERT INTO users (username, username_key, password_hash, role) VALUES (?, ?, '$argon2id$x', ?) RETURNING id`,
      name, name, role,
    ),
  );
}

test('an admin demoted while a request waited can no longer grant: 404, and nothing is written', async () => {
  const { database, sql } = temp;
  const admin = await user('boss', 'admin');
  const member = await user('member', 'user');
  await database.write(openAccount, member, 100);
  expect(await database.write(grantTokens, admin, member, 50, 'thanks')).toBe(150);
  await sql.run(`UPDATE users SET role = 'user' WHERE id = ?`, admin);
  const rows = () => sql.value('SELECT count(*) FROM ledger');
  const before = await rows();
  let thrown: unknown;
  try {
    await database.write(grantTokens, admin, member, 50, 'again');
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(NotAnAdmin);
  expect(toHttpError(thrown).status).toBe(404); // what the error handler answers
  expect(await rows()).toBe(before);
  expect(await database.read(balanceOf, member)).toBe(150);
  expect(await sql.value(`SELECT count(*) FROM admin_audit`)).toBe(1);
});

test('a code batch is written with its codes and its audit row together', async () => {
  const { sql } = temp;
  const admin = await user('boss', 'admin');
  const { batchId, codes } = await createBatch(temp.database, admin, { tokens: 500, count: 3, note: 'class of 2026' });
  expect(codes).toHaveLength(3);
  expect((await sql.all('SELECT batch_id FROM redemption_codes ORDER BY id')).map((r) => r.batch_id)).toEqual([batchId, batchId, batchId]);
  expect((await sql.all(`SELECT action FROM admin_audit ORDER BY id`)).map((r) => r.action)).toEqual(['codes_create']);
  await expect(createBatch(temp.database, admin, { tokens: 0, count: 3 })).rejects.toThrow('tokens must be a whole number');
  expect(await sql.value('SELECT count(*) FROM code_batches')).toBe(1);
});
