// The usage rollup (migration 008): closed turns summed by user, UTC day and model, and by day and
// model for everyone. The server's sweep brings it up to a minute ago; reports (usage-report.ts)
// read it and add the turns closed after its mark from the holds, through their closed_at indexes.
// A turn never writes here, so the ledger's hot path stays as it is.
import { query, type Op, type Store } from '../storage/op';

/** How far behind now the mark stays, so that a small step back of the clock cannot put a turn behind it. */
export const ROLLUP_LAG_MS = 60_000;
const DAY_MS = 86_400_000;

/** Every turn closed before this time is in the rollup, and none closed at or after it. */
export function* rolledUntil(): Op<string> {
  return yield* query('rollup.mark', {});
}

/**
 * Rolls up the turns closed from the mark to the end of that UTC day (or to `now` minus the lag,
 * when sooner), in one write, and moves the mark. Returns false once the mark is there.
 * A day at a time keeps a first run over a large database from stalling the server.
 */
export function* rollUpStep(now = new Date()): Op<boolean> {
  const target = new Date(now.getTime() - ROLLUP_LAG_MS).toISOString();
  // Read (and on PostgreSQL locked) inside: another process may have moved it, or be moving it.
  const from = yield* query('rollup.markForStep', {});
  if (from >= target) return false;
  const start = from === '' ? ((yield* query('rollup.firstClosed', {})) ?? target) : from;
  const nextDay = new Date(Date.parse(start.slice(0, 10)) + DAY_MS).toISOString();
  const to = nextDay < target ? nextDay : target;
  yield* query('rollup.perUser', { from, to });
  yield* query('rollup.everyone', { from, to });
  yield* query('rollup.move', { to, from });
  return true;
}

/** Brings the rollup up to `now` minus the lag, a day (one write) per event-loop turn. Returns the steps taken. */
export async function rollUp(store: Store, now = new Date()): Promise<number> {
  let steps = 0;
  for (;;) {
    let moved: boolean;
    try {
      moved = await store.write(rollUpStep, now);
    } catch (err) {
      if (!(await store.ping())) break; // the server may close the database between steps
      throw err;
    }
    if (!moved) break;
    steps++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return steps;
}
