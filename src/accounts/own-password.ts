// A person changing their own password: the current one is checked first (argon2, as at sign-in),
// the new one obeys the same rules as at registration, and every other session of theirs ends
// (the session epoch moves on; the caller keeps its own session by taking the new epoch). A forced
// change (must_change_password) is done by the same write. Accounts made through the organisation's
// OpenID provider have no password, and cannot set one here (they sign in with their provider).
import { checkPassword, UserInputError } from './users';
import type { PasswordHasher } from './passwords';
import { query, type Store } from '../storage/op';

export type OwnPasswordResult =
  | { ok: true; epoch: number }
  /** code: current_wrong, no_password, same, changed (account.error.*), or a password rule's (error.*). */
  | { ok: false; field: 'current' | 'password' | 'confirm'; code: string };

export async function changeOwnPassword(
  store: Store, hasher: PasswordHasher, userId: number, input: { current: unknown; password: unknown; confirm: unknown },
): Promise<OwnPasswordResult> {
  const row = await store.read(function* () {
    return yield* query('account.passwordHash', { id: userId });
  });
  if (!row || row.password_hash === null) return { ok: false, field: 'current', code: 'no_password' };
  let password: string;
  try {
    password = checkPassword(input.password);
  } catch (err) {
    if (!(err instanceof UserInputError)) throw err;
    return { ok: false, field: 'password', code: err.code };
  }
  if (input.confirm !== input.password) return { ok: false, field: 'confirm', code: 'confirm_mismatch' };
  const current = typeof input.current === 'string' ? input.current.normalize('NFKC') : '';
  if (current === '' || !(await hasher.verify(row.password_hash, current))) return { ok: false, field: 'current', code: 'current_wrong' };
  if (password === current) return { ok: false, field: 'password', code: 'same' };
  const hash = await hasher.hash(password);
  // Only if no other change (a reset, another tab's change) came in between: that one stands.
  const epoch = await store.once('account.setOwnPassword', { id: userId, hash, epoch: row.session_epoch });
  if (epoch === undefined) return { ok: false, field: 'current', code: 'changed' };
  return { ok: true, epoch };
}
