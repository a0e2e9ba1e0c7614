// Accounts: usernames, passwords, roles, disabling.
import { sql, type Generated, type Selectable } from 'kysely';
import type { Database, Db } from './db';
import { openAccountInTx } from './ledger';
import type { PasswordHasher } from './passwords';

export interface UsersTable {
  id: Generated<number>;
  username: string;
  username_key: string;
  password_hash: string;
  role: Role;
  disabled: Generated<number>;
  session_epoch: Generated<number>;
  created_at: Generated<string>;
}

export type Role = 'user' | 'admin';
export type User = Omit<Selectable<UsersTable>, 'password_hash'>;

export const USERNAME_MIN = 3;
export const USERNAME_MAX = 32;
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 1024;
// Letters and digits of any script (so 中文 names work), plus _ . -
const USERNAME_CHARS = /^[\p{L}\p{N}_.-]+$/u;

/** A problem with what the person typed; `code` is a message key, `field` the form field. */
export class UserInputError extends Error {
  constructor(
    readonly field: 'username' | 'password' | 'confirm',
    readonly code: string,
  ) {
    super(code);
  }
}

const length = (s: string) => [...s].length;

export function normalizeUsername(input: unknown): { username: string; key: string } {
  if (typeof input !== 'string') throw new UserInputError('username', 'username_required');
  const username = input.normalize('NFKC').trim();
  if (username === '') throw new UserInputError('username', 'username_required');
  if (length(username) < USERNAME_MIN || length(username) > USERNAME_MAX) {
    throw new UserInputError('username', 'username_length');
  }
  if (!USERNAME_CHARS.test(username)) throw new UserInputError('username', 'username_chars');
  return { username, key: username.toLowerCase() };
}

export function checkPassword(input: unknown): string {
  if (typeof input !== 'string' || input === '') throw new UserInputError('password', 'password_required');
  const password = input.normalize('NFKC');
  if (length(password) < PASSWORD_MIN || length(password) > PASSWORD_MAX) {
    throw new UserInputError('password', 'password_length');
  }
  return password;
}

const publicColumns = ['id', 'username', 'username_key', 'role', 'disabled', 'session_epoch', 'created_at'] as const;

const insertUser = `INSERT INTO users (username, username_key, password_hash, role)
  SELECT @username, @key, @hash,
         CASE WHEN @role <> 'auto' THEN @role WHEN EXISTS (SELECT 1 FROM users) THEN 'user' ELSE 'admin' END
  RETURNING ${publicColumns.join(', ')}`;

/**
 * Creates an account, its balance and its signup bonus in one transaction; `also` runs inside it
 * too (an admin's audit row), so a crash or a refusal leaves no account without them. With role
 * 'auto' the very first account becomes admin: the role is decided inside the INSERT itself, so
 * simultaneous first registrations still make exactly one admin.
 */
export async function createUser(
  database: Pick<Database, 'db' | 'raw'>,
  hasher: PasswordHasher,
  input: { username: unknown; password: unknown; role: Role | 'auto' },
  account: { signupBonus: number; also?: (user: User) => void },
): Promise<User> {
  const { username, key } = normalizeUsername(input.username);
  const password = checkPassword(input.password);
  if (await findByName(database.db, username)) throw new UserInputError('username', 'username_taken');
  const hash = await hasher.hash(password);
  const { raw } = database;
  return raw
    .transaction(() => {
      let user: User;
      try {
        user = raw.prepare(insertUser).get({ username, key, hash, role: input.role }) as User;
      } catch (err) {
        // Taken while the password was hashing. The only UNIQUE constraint this INSERT can meet.
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new UserInputError('username', 'username_taken');
        throw err;
      }
      openAccountInTx(raw, user.id, account.signupBonus);
      account.also?.(user);
      return user;
    })
    .immediate();
}

export function findById(db: Db, id: number): Promise<User | undefined> {
  return db.selectFrom('users').select(publicColumns).where('id', '=', id).executeTakeFirst();
}

export function findByName(db: Db, name: string): Promise<User | undefined> {
  const key = name.normalize('NFKC').trim().toLowerCase();
  return db.selectFrom('users').select(publicColumns).where('username_key', '=', key).executeTakeFirst();
}

export type LoginResult = { ok: true; user: User } | { ok: false; reason: 'invalid' | 'disabled' };

/**
 * Checks a username and password. Unknown users and wrong passwords give the same answer after
 * the same amount of work (a verification against a dummy hash); only a correct password on a
 * disabled account learns that it is disabled.
 */
export async function authenticate(db: Db, hasher: PasswordHasher, name: unknown, password: unknown): Promise<LoginResult> {
  const pw = typeof password === 'string' ? password.normalize('NFKC') : '';
  const key = typeof name === 'string' ? name.normalize('NFKC').trim().toLowerCase() : '';
  const row = key
    ? await db.selectFrom('users').selectAll().where('username_key', '=', key).executeTakeFirst()
    : undefined;
  if (!row || pw === '' || length(pw) > PASSWORD_MAX) {
    await hasher.verifyDummy(pw.slice(0, PASSWORD_MAX));
    return { ok: false, reason: 'invalid' };
  }
  if (!(await hasher.verify(row.password_hash, pw))) return { ok: false, reason: 'invalid' };
  if (row.disabled) return { ok: false, reason: 'disabled' };
  const { password_hash: _omit, ...user } = row;
  return { ok: true, user };
}

export function listUsers(db: Db): Promise<User[]> {
  return db.selectFrom('users').select(publicColumns).orderBy('id').execute();
}

/**
 * Disables or enables an account. Disabling bumps the session epoch, so every session the user
 * holds ends at its next request. Returns false when no such user exists.
 */
export async function setDisabled(db: Db, name: string, disabled: boolean): Promise<boolean> {
  const key = name.normalize('NFKC').trim().toLowerCase();
  if (disabled) {
    // Someone must be able to sign in and run the admin pages: never the last enabled admin.
    const others = await db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('role', '=', 'admin')
      .where('disabled', '=', 0)
      .where('username_key', '<>', key)
      .executeTakeFirstOrThrow();
    const target = await db.selectFrom('users').select(['role', 'disabled']).where('username_key', '=', key).executeTakeFirst();
    if (target?.role === 'admin' && !target.disabled && Number(others.n) === 0) throw new UserInputError('username', 'last_admin');
  }
  const result = await db
    .updateTable('users')
    .set(
      disabled
        ? { disabled: 1, session_epoch: sql<number>`session_epoch + 1` }
        : { disabled: 0 },
    )
    .where('username_key', '=', key)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
