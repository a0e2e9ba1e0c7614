// Password sign-in when PASSWORD_SIGNIN may be off: then only break-glass accounts (tokenchat user
// break-glass <name> on) sign in with a password, and every other try, right or wrong, gets the
// same answer, so the page tells nobody whether a password was right.
import { authenticate, type LoginResult } from '../accounts/users';
import type { PasswordHasher } from '../accounts/passwords';
import type { Store } from '../storage/op';
import { mayUsePassword } from './admin';

export type PasswordSignInResult = LoginResult | { ok: false; reason: 'password_off'; wrongPassword: boolean };

export async function passwordSignIn(store: Store, hasher: PasswordHasher, allowed: boolean, name: unknown, password: unknown): Promise<PasswordSignInResult> {
  const result = await authenticate(store, hasher, name, password);
  if (allowed) return result;
  if (result.ok && (await store.read(mayUsePassword, result.user.id))) return result;
  return { ok: false, reason: 'password_off', wrongPassword: !result.ok && result.reason === 'invalid' };
}
