// What both session stores share about a touch: how far it must move a session's expiry to be
// written (every request touches), and the expiries a store already knows, so a touch that would
// not move one by that much runs no statement.
import type session from 'express-session';

/**
 * A touch that moves the expiry by less than this writes nothing: a minute, or a tenth of the idle
 * lifetime when that is shorter, so a session never ends more than that before its cookie says.
 */
export const TOUCH_SLACK_MS = 60_000;
export const DEFAULT_SESSION_AGE_MS = 86_400_000;

/** How far a touch must move a session's expiry to be written: TOUCH_SLACK_MS, or a tenth of the idle lifetime when that is shorter. */
export function touchSlackMs(sess: session.SessionData): number {
  return Math.min(TOUCH_SLACK_MS, (sess.cookie?.originalMaxAge ?? DEFAULT_SESSION_AGE_MS) / 10);
}

/** Expiries kept at most: then all are forgotten, and the next touch of each runs its statement again. */
const KEPT = 10_000;

/** A bounded map of session id to an expiry (ms) the store knows is stored for it. */
export class KnownExpiries {
  private readonly expiries = new Map<string, number>();

  remember(sid: string, expiry: number): void {
    if (this.expiries.size >= KEPT) this.expiries.clear();
    this.expiries.set(sid, expiry);
  }

  forget(sid: string): void {
    this.expiries.delete(sid);
  }

  /** Whether a touch to `expiry` would move the known one by less than the session's slack (so need not be written). */
  unmoved(sid: string, expiry: number, sess: session.SessionData): boolean {
    const known = this.expiries.get(sid);
    return known !== undefined && known > expiry - touchSlackMs(sess);
  }
}
