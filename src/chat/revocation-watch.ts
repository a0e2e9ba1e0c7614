// A backstop for the signals that stop running calls: every few seconds, while anything runs, the
// database is asked whether a running call's key was revoked or its owner disabled. It catches
// what a signal cannot carry: a command-line `user disable` on SQLite (no channel between
// processes), a NOTIFY sent while this process's listening connection was down.
import { query, type Op, type Store } from '../storage/op';
import type { Signal } from '../storage/signals';
import type { RunningTurns } from './running-turns';

/** How often the watch looks, while something runs: the longest a missed signal lets a call go on. */
export const REVOCATION_CHECK_MS = 5000;

/** The signals the database implies for these running keys and users. */
export function* revocationsAmong(keys: readonly number[], users: readonly number[]): Op<Signal[]> {
  const found: Signal[] = [];
  if (users.length > 0) {
    for (const userId of yield* query('keys.disabledUsers', { ids: JSON.stringify(users) })) found.push({ kind: 'stop_all', userId });
  }
  if (keys.length > 0) {
    for (const k of yield* query('keys.unusable', { ids: JSON.stringify(keys) })) {
      if (!k.disabled) found.push({ kind: 'revoke_key', userId: k.userId, keyId: k.keyId });
    }
  }
  return found;
}

/** Starts the watch; the returned function stops it. A failed look is reported and tried again next time. */
export function watchRevocations(store: Store, running: RunningTurns, failed: (err: unknown) => void, everyMs = REVOCATION_CHECK_MS): () => void {
  let looking = false;
  const timer = setInterval(() => {
    if (running.size === 0 || looking) return;
    looking = true;
    store
      .read(revocationsAmong, running.keys, running.users)
      .then((signals) => signals.forEach((signal) => running.apply(signal)))
      .catch(failed)
      .finally(() => (looking = false));
  }, everyMs).unref();
  return () => clearInterval(timer);
}
