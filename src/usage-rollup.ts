// The usage rollup (migration 008): closed turns summed by user, UTC day and model, and by day and
// model for everyone. The server's sweep brings it up to a minute ago; reports (usage-report.ts)
// read it and add the turns closed after its mark from the holds, through their closed_at indexes.
// A turn never writes here, so the ledger's hot path stays as it is.
import type SqliteDatabase from 'better-sqlite3';

type Raw = SqliteDatabase.Database;

/** How far behind now the mark stays, so that a small step back of the clock cannot put a turn behind it. */
export const ROLLUP_LAG_MS = 60_000;
const DAY_MS = 86_400_000;

const SUMS = `count(*), coalesce(sum(charge), 0), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0)`;
const ADD = `turns = turns + excluded.turns, charge = charge + excluded.charge, prompt = prompt + excluded.prompt,
  completion = completion + excluded.completion`;

function statements(raw: Raw) {
  const q = (text: string) => raw.prepare(text);
  return {
    mark: q('SELECT rolled_until FROM usage_rollup WHERE id = 1').pluck(),
    firstClosed: q('SELECT min(closed_at) FROM holds WHERE closed_at IS NOT NULL').pluck(),
    perUser: q(`INSERT INTO usage_daily (user_id, day, model, turns, charge, prompt, completion)
                SELECT user_id, substr(created_at, 1, 10), model, ${SUMS} FROM usage
                WHERE created_at >= @from AND created_at < @to GROUP BY 1, 2, 3
                ON CONFLICT (user_id, day, model) DO UPDATE SET ${ADD}`),
    everyone: q(`INSERT INTO usage_daily_all (day, model, turns, charge, prompt, completion)
                 SELECT substr(created_at, 1, 10), model, ${SUMS} FROM usage
                 WHERE created_at >= @from AND created_at < @to GROUP BY 1, 2
                 ON CONFLICT (day, model) DO UPDATE SET ${ADD}`),
    move: q('UPDATE usage_rollup SET rolled_until = ? WHERE id = 1 AND rolled_until = ?'),
  };
}
const cache = new WeakMap<Raw, ReturnType<typeof statements>>();
function stmts(raw: Raw) {
  let s = cache.get(raw);
  if (!s) cache.set(raw, (s = statements(raw)));
  return s;
}

/** Every turn closed before this time is in the rollup, and none closed at or after it. */
export function rolledUntil(raw: Raw): string {
  return stmts(raw).mark.get() as string;
}

/**
 * Rolls up the turns closed from the mark to the end of that UTC day (or to `now` minus the lag,
 * when sooner), in one transaction, and moves the mark. Returns false once the mark is there.
 * A day at a time keeps a first run over a large database from stalling the server.
 */
export function rollUpStep(raw: Raw, now = new Date()): boolean {
  const s = stmts(raw);
  const target = new Date(now.getTime() - ROLLUP_LAG_MS).toISOString();
  return raw
    .transaction((): boolean => {
      const from = rolledUntil(raw); // read inside: another process may have moved it
      if (from >= target) return false;
      const start = from === '' ? ((s.firstClosed.get() as string | null) ?? target) : from;
      const nextDay = new Date(Date.parse(start.slice(0, 10)) + DAY_MS).toISOString();
      const to = nextDay < target ? nextDay : target;
      s.perUser.run({ from, to });
      s.everyone.run({ from, to });
      s.move.run(to, from);
      return true;
    })
    .immediate();
}

/** Brings the rollup up to `now` minus the lag, a day per event-loop turn. Returns the steps taken. */
export async function rollUp(raw: Raw, now = new Date()): Promise<number> {
  let steps = 0;
  while (raw.open && rollUpStep(raw, now)) { // the server may close the database between steps
    steps++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return steps;
}
