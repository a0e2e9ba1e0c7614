// Accounts: usernames, passwords, roles, disabling.
import { openAccount } from '../ledger/ledger';
import { query, type Op, type Store } from '../storage/op';
import type { Role, User } from '../storage/queries/accounts';
import type { PasswordHasher } from './passwords';

export type { Role, User } from '../storage/queries/accounts';

// Two characters: many Chinese names are two (小明, 张伟).
export const USERNAME_MIN = 2;
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

/**
 * Creates an account, its balance and its signup bonus in one write; `also` runs inside it too
 * (an admin's audit row), so a crash or a refusal leaves no account without them. With role
 * 'auto' the very first account becomes admin: the role is decided inside the INSERT itself, so
 * simultaneous first registrations still make exactly one admin.
 */
export async function createUser(
  store: Store,
  hasher: PasswordHasher,
  input: { username: unknown; password: unknown; role: Role | 'auto' },
  account: { signupBonus: number; also?: (user: User) => Op<void> },
): Promise<User> {
  const { username, key } = normalizeUsername(input.username);
  const password = checkPassword(input.password);
  if (await store.read(findByName, username)) throw new UserInputError('username', 'username_taken');
  const hash = await hasher.hash(password);
  return store.write(function* () {
    if (input.role === 'auto') yield* query('accounts.lockRoles', {}); // one first admin, whichever process
    const user = yield* query('accounts.insert', { username, key, hash, role: input.role });
    // Taken while the password was hashing.
    if (!user) throw new UserInputError('username', 'username_taken');
    yield* openAccount(user.id, account.signupBonus);
    if (account.also) yield* account.also(user);
    return user;
  });
}

const keyOf = (name: string) => name.normalize('NFKC').trim().toLowerCase();

export function* findById(id: number): Op<User | undefined> {
  return yield* query('accounts.byId', { id });
}

export function* findByName(name: string): Op<User | undefined> {
  return yield* query('accounts.byKey', { key: keyOf(name) });
}

export type LoginResult = { ok: true; user: User } | { ok: false; reason: 'invalid' | 'disabled' };

/**
 * Checks a username and password. Unknown users and wrong passwords give the same answer after
 * the same amount of work (a verification against a dummy hash); only a correct password on a
 * disabled account learns that it is disabled.
 */
export async function authenticate(store: Store, hasher: PasswordHasher, name: unknown, password: unknown): Promise<LoginResult> {
  const pw = typeof password === 'string' ? password.normalize('NFKC') : '';
  const key = typeof name === 'string' ? keyOf(name) : '';
  const row = key ? await store.read(function* () {
    return yield* query('accounts.credentialsByKey', { key });
  }) : undefined;
  // An account made through an OpenID provider has no password: never one that signs in.
  if (!row || row.password_hash === null || pw === '' || length(pw) > PASSWORD_MAX) {
    await hasher.verifyDummy(pw.slice(0, PASSWORD_MAX));
    return { ok: false, reason: 'invalid' };
  }
  if (!(await hasher.verify(row.password_hash, pw))) return { ok: false, reason: 'invalid' };
  if (row.disabled) return { ok: false, reason: 'disabled' };
  const { password_hash: _omit, ...user } = row;
  return { ok: true, user };
}

export function* listUsers(): Op<User[]> {
  return yield* query('accounts.list', {});
}

