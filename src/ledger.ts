// The ONLY writer of balances. Every change is one append-only ledger row written in the same
// transaction as the balance update; `balance >= 0` is enforced by CHECK constraints in SQL.
// Transactions are BEGIN IMMEDIATE on the synchronous SQLite handle: the write lock is taken
// first, so several processes on one file serialise instead of failing; writes that arrive
// together share one (group commit, below).
import type SqliteDatabase from 'better-sqlite3';
import { affordableCompletion, priceOf, type ModelInfo } from './models';

type Raw = SqliteDatabase.Database;
export type CreditKind = 'signup_bonus' | 'grant' | 'adjust';
export const MAX_AMOUNT = 1_000_000_000_000; // a trillion tokens: far past any real grant, far below 2^53
/** The most a balance may hold: still an exact integer in JavaScript and in SQLite. */
export const MAX_BALANCE = 1_000_000_000_000_000;

export class LedgerError extends Error {}

export interface Hold {
  id: number;
  userId: number;
  turnKey: string;
  model: string;
  amount: number;
  promptTokens: number;
  maxCompletion: number;
  state: 'held' | 'settled' | 'released';
  charge: number | null;
}

export type ReserveResult =
  | { status: 'held'; hold: Hold; balance: number }
  | { status: 'duplicate'; hold: Hold; balance: number }
  | { status: 'insufficient'; missing: number; balance: number }
  | { status: 'over_limit'; allowance: number; balance: number };

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  source: 'reported' | 'estimated';
  outcome: 'ok' | 'stopped' | 'error' | 'recovered';
  latencyMs?: number;
  conversationId?: number;
  messageId?: number;
  apiRequestId?: string;
}

export interface SettleResult {
  charge: number;
  uncollected: number;
  balance: number;
}

function checkAmount(amount: unknown): number {
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount === 0 || Math.abs(amount) > MAX_AMOUNT) {
    throw new LedgerError(`amount must be a whole number from 1 to ${MAX_AMOUNT} (or its negative)`);
  }
  return amount;
}

const HOLD_COLUMNS = `id, user_id AS userId, turn_key AS turnKey, model, amount, prompt_tokens AS promptTokens,
  max_completion AS maxCompletion, state, charge, prompt_rate AS promptRate, completion_rate AS completionRate,
  delivered`;

/** Prepared statements, made once per connection. */
function statements(raw: Raw) {
  const q = (text: string) => raw.prepare(text);
  return {
    open: q('INSERT INTO balances (user_id) VALUES (?) ON CONFLICT (user_id) DO NOTHING'),
    balance: q('SELECT balance FROM balances WHERE user_id = ?').pluck(),
    add: q(`UPDATE balances SET balance = balance + @amount WHERE user_id = @userId AND balance + @amount BETWEEN 0 AND ${MAX_BALANCE}
            RETURNING balance`).pluck(),
    take: q(`UPDATE balances SET last_hold = min(balance, @full), balance = balance - min(balance, @full)
             WHERE user_id = @userId AND balance >= @minimum RETURNING last_hold AS held, balance`),
    row: q(`INSERT INTO ledger (user_id, kind, amount, balance_after, actor_id, hold_id, code_id, note)
            VALUES (@userId, @kind, @amount, @balanceAfter, @actorId, @holdId, @codeId, @note)`),
    holdByKey: q(`SELECT ${HOLD_COLUMNS} FROM holds WHERE user_id = ? AND turn_key = ?`),
    holdById: q(`SELECT ${HOLD_COLUMNS} FROM holds WHERE id = ?`),
    newHold: q(`INSERT INTO holds (user_id, turn_key, model, amount, prompt_tokens, max_completion, prompt_rate, completion_rate)
                VALUES (@userId, @turnKey, @model, @amount, @promptTokens, @maxCompletion, @promptRate, @completionRate) RETURNING id`).pluck(),
    // Closing a hold also records the turn's usage on it (the `usage` view reads closed holds).
    closeHold: q(`UPDATE holds SET state = @state, charge = @charge, closed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
                  used_prompt_tokens = @promptTokens, completion_tokens = @completionTokens, uncollected = @uncollected,
                  source = @source, outcome = @outcome, latency_ms = @latencyMs, conversation_id = @conversationId,
                  message_id = @messageId, api_request_id = @apiRequestId
                  WHERE id = @id AND state = 'held'`),
    delivered: q(`UPDATE holds SET delivered = max(delivered, ?) WHERE id = ? AND state = 'held'`),
    alive: q(`UPDATE holds SET alive_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id IN (SELECT value FROM json_each(?)) AND state = 'held'`),
    // Held, and not heard of (created or marked alive) since the cutoff.
    stale: q(`SELECT id FROM holds WHERE state = 'held' AND coalesce(alive_at, created_at) <= ?`).pluck(),
  };
}
type Statements = ReturnType<typeof statements>;
const cache = new WeakMap<Raw, Statements>();
export function stmts(raw: Raw): Statements {
  let s = cache.get(raw);
  if (!s) cache.set(raw, (s = statements(raw)));
  return s;
}

/**
 * Group commit. Turns, grants and settlements that arrive in the same turn of the event loop are
 * written in ONE BEGIN IMMEDIATE transaction. Their promises settle only after the COMMIT, so a
 * caller never shows a balance that is not on disk. A lone caller pays one extra event-loop turn;
 * concurrent turns share the cost of the commit, which is most of the cost.
 * A write that fails (a refused deduction, a repeated turn key) must be rolled back alone. That is
 * rare, so a batch is first written without savepoints (they cost a tenth of a pair); when any
 * write in it throws, the whole transaction rolls back and the batch is written again with a
 * savepoint around each write. Writes are therefore closures that only touch the database.
 */
type Op = { run: () => unknown; resolve: (value: unknown) => void; reject: (err: unknown) => void };
type Outcome = { ok: true; value: unknown } | { ok: false; err: unknown };
class WriteFailed extends Error {
  constructor(readonly error: unknown) {
    super('a write in the batch failed');
  }
}

class GroupCommit {
  private queue: Op[] = [];
  private scheduled = false;
  // Made once: better-sqlite3 builds a wrapper per transaction() call, which costs as much as a write.
  private readonly runAll: SqliteDatabase.Transaction<(ops: Op[]) => Outcome[]>;
  private readonly runEach: SqliteDatabase.Transaction<(ops: Op[]) => Outcome[]>;

  constructor(raw: Raw) {
    const savepoint = raw.prepare('SAVEPOINT ledger_op');
    const release = raw.prepare('RELEASE ledger_op');
    const rollback = raw.prepare('ROLLBACK TO ledger_op');
    this.runAll = raw.transaction((ops: Op[]): Outcome[] =>
      ops.map((op) => {
        try {
          return { ok: true, value: op.run() };
        } catch (err) {
          throw new WriteFailed(err); // rolls the whole batch back
        }
      }),
    );
    this.runEach = raw.transaction((ops: Op[]): Outcome[] =>
      ops.map((op): Outcome => {
        savepoint.run();
        try {
          const value = op.run();
          release.run();
          return { ok: true, value };
        } catch (err) {
          // Some errors (disk full, I/O) end the whole transaction in SQLite: then all have failed.
          if (!raw.inTransaction) throw err;
          rollback.run();
          release.run();
          return { ok: false, err };
        }
      }),
    );
  }

  submit<T>(run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue.splice(0);
    let outcomes: Outcome[];
    try {
      outcomes = this.runAll.immediate(batch);
    } catch (err) {
      // Nothing was written. A write failed (alone, that is its answer; in a batch, find which one
      // by writing the batch again, one savepoint each), or the transaction itself did.
      try {
        if (!(err instanceof WriteFailed)) throw err;
        if (batch.length === 1) throw err.error;
        outcomes = this.runEach.immediate(batch);
      } catch (failed) {
        for (const op of batch) op.reject(failed);
        return;
      }
    }
    batch.forEach((op, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) op.resolve(outcome.value);
      else op.reject(outcome.err);
    });
  }
}
const writers = new WeakMap<Raw, GroupCommit>();
function commit<T>(raw: Raw, run: () => T): Promise<T> {
  let writer = writers.get(raw);
  if (!writer) writers.set(raw, (writer = new GroupCommit(raw)));
  return writer.submit(run);
}

type HoldRow = Hold & { promptRate: number; completionRate: number; delivered: number };
const publicHold = ({ promptRate: _p, completionRate: _c, delivered: _d, ...hold }: HoldRow): Hold => hold;

export function balanceOf(raw: Raw, userId: number): number {
  return (stmts(raw).balance.get(userId) as number | undefined) ?? 0;
}

/** Adds (or, negative, removes) tokens inside an open transaction; never below zero. */
export function creditInTx(
  raw: Raw,
  entry: { userId: number; amount: number; kind: CreditKind | 'redeem'; actorId?: number; codeId?: number; note?: string },
): number {
  const s = stmts(raw);
  s.open.run(entry.userId);
  const balance = s.add.get({ userId: entry.userId, amount: entry.amount }) as number | undefined;
  if (balance === undefined) {
    const now = balanceOf(raw, entry.userId);
    throw new LedgerError(entry.amount < 0 ? `balance would go below zero (it is ${now})` : `balance would pass the maximum of ${MAX_BALANCE} (it is ${now})`);
  }
  s.row.run({
    userId: entry.userId, kind: entry.kind, amount: entry.amount, balanceAfter: balance,
    actorId: entry.actorId ?? null, holdId: null, codeId: entry.codeId ?? null, note: entry.note ?? null,
  });
  return balance;
}

/** Gives a new account its balance row and, when there is one, its signup bonus, inside an open transaction. */
export function openAccountInTx(raw: Raw, userId: number, signupBonus: number): number {
  if (signupBonus === 0) {
    stmts(raw).open.run(userId);
    return 0;
  }
  return creditInTx(raw, { userId, amount: checkAmount(signupBonus), kind: 'signup_bonus' });
}

/** openAccountInTx in a transaction of its own. */
export function openAccount(raw: Raw, userId: number, signupBonus: number): Promise<number> {
  return commit(raw, () => openAccountInTx(raw, userId, signupBonus));
}

/** Grants (positive) or deducts (negative) tokens; a deduction past zero is refused and writes nothing. */
export async function grant(
  raw: Raw,
  userId: number,
  amount: unknown,
  opts: { kind?: CreditKind; actorId?: number; note?: string } = {},
): Promise<number> {
  const checked = checkAmount(amount);
  if (opts.note !== undefined && opts.note.length > 500) throw new LedgerError('note must be at most 500 characters');
  const kind = opts.kind ?? (checked > 0 ? 'grant' : 'adjust'); // a deduction is an adjustment, as on the admin pages
  return commit(raw, () => creditInTx(raw, { userId, amount: checked, kind, actorId: opts.actorId, note: opts.note }));
}

/**
 * Sets aside what the turn may cost: the prompt plus as many completion tokens (up to
 * maxCompletion) as the balance pays for, in one conditional UPDATE. Refuses when not even the
 * prompt and one completion token are affordable. A repeated turn key returns the first hold.
 * `allowance`, when given, is the most the turn may cost under the user's spend limits (null: no
 * limit); it is read inside the reserve's transaction, so turns reserving at once (several tabs,
 * several processes) cannot pass a daily limit together. Under it, the completion shrinks, and
 * when not even one completion token fits, the answer is 'over_limit'.
 */
export async function reserve(
  raw: Raw,
  req: { userId: number; turnKey: string; model: ModelInfo; promptTokens: number; maxCompletion: number; allowance?: () => number | null },
): Promise<ReserveResult> {
  const s = stmts(raw);
  const duplicate = (): ReserveResult | undefined => {
    const existing = s.holdByKey.get(req.userId, req.turnKey) as HoldRow | undefined;
    return existing && { status: 'duplicate', hold: publicHold(existing), balance: balanceOf(raw, req.userId) };
  };
  const minimum = priceOf(req.model, req.promptTokens, 1);
  try {
    return await commit(raw, (): ReserveResult => {
      let wanted = req.maxCompletion;
      const allowance = req.allowance?.() ?? null;
      if (allowance !== null) {
        wanted = Math.min(wanted, affordableCompletion(req.model, req.promptTokens, allowance));
        if (wanted < 1) return duplicate() ?? { status: 'over_limit', allowance, balance: balanceOf(raw, req.userId) };
      }
      const full = priceOf(req.model, req.promptTokens, wanted);
      // A repeated turn key is rare, so it is not looked up first: the UNIQUE (user_id, turn_key)
      // of holds refuses the second hold and this write is rolled back (caught below).
      // No balance row (an account never opened) simply has nothing to take.
      const took = s.take.get({ userId: req.userId, full, minimum }) as { held: number; balance: number } | undefined;
      if (!took) {
        const balance = balanceOf(raw, req.userId);
        return duplicate() ?? { status: 'insufficient', missing: minimum - balance, balance };
      }
      const maxCompletion = Math.min(wanted, affordableCompletion(req.model, req.promptTokens, took.held));
      const row = {
        userId: req.userId, turnKey: req.turnKey, model: req.model.id, amount: took.held, promptTokens: req.promptTokens,
        maxCompletion, promptRate: req.model.promptRate, completionRate: req.model.completionRate,
      };
      const id = s.newHold.get(row) as number;
      s.row.run({ userId: req.userId, kind: 'reserve', amount: -took.held, balanceAfter: took.balance, actorId: null, holdId: id, codeId: null, note: null });
      const hold: Hold = { id, userId: req.userId, turnKey: req.turnKey, model: req.model.id, amount: took.held, promptTokens: req.promptTokens, maxCompletion, state: 'held', charge: null };
      return { status: 'held', hold, balance: took.balance };
    });
  } catch (err) {
    const again = (err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE' ? duplicate() : undefined;
    if (again) return again;
    throw err;
  }
}

/** Records completion tokens streamed so far, so a crash mid-turn can still be charged for them. */
export function recordDelivered(raw: Raw, holdId: number, completionTokens: number): void {
  stmts(raw).delivered.run(completionTokens, holdId);
}

function closeHold(raw: Raw, hold: HoldRow, usage: Usage, kind: 'settle' | 'release'): SettleResult {
  const s = stmts(raw);
  const wanted = kind === 'release' ? 0 : priceOf(hold, usage.promptTokens, usage.completionTokens);
  // A provider may count a few more tokens than were held for; take what is left, record the rest.
  const charge = wanted <= hold.amount ? wanted : Math.min(wanted, hold.amount + balanceOf(raw, hold.userId));
  const refund = hold.amount - charge;
  const balance = s.add.get({ userId: hold.userId, amount: refund }) as number;
  s.row.run({ userId: hold.userId, kind, amount: refund, balanceAfter: balance, actorId: null, holdId: hold.id, codeId: null, note: kind === 'release' ? usage.outcome : null });
  s.closeHold.run({
    id: hold.id, state: kind === 'settle' ? 'settled' : 'released', charge, promptTokens: usage.promptTokens,
    completionTokens: usage.completionTokens, uncollected: wanted - charge, source: usage.source, outcome: usage.outcome,
    latencyMs: usage.latencyMs ?? null, conversationId: usage.conversationId ?? null, messageId: usage.messageId ?? null,
    apiRequestId: usage.apiRequestId ?? null,
  });
  return { charge, uncollected: wanted - charge, balance };
}

function withOpenHold<T>(raw: Raw, holdId: number, fn: (hold: HoldRow) => T): Promise<T> {
  return commit(raw, () => {
    const hold = stmts(raw).holdById.get(holdId) as HoldRow | undefined;
    if (!hold) throw new LedgerError(`no hold ${holdId}`);
    if (hold.state !== 'held') throw new LedgerError(`hold ${holdId} is already ${hold.state}`);
    return fn(hold);
  });
}

/** Charges the turn for its real usage and gives back the rest of the hold. */
export async function settle(raw: Raw, holdId: number, usage: Usage): Promise<SettleResult> {
  for (const n of [usage.promptTokens, usage.completionTokens]) {
    if (!Number.isSafeInteger(n) || n < 0) throw new LedgerError('token counts must be whole numbers >= 0');
  }
  return withOpenHold(raw, holdId, (hold) => closeHold(raw, hold, usage, 'settle'));
}

/** Gives the whole hold back: the turn failed before any output. */
export async function release(raw: Raw, holdId: number, reason: 'error' | 'recovered' = 'error'): Promise<SettleResult> {
  return withOpenHold(raw, holdId, (hold) =>
    closeHold(raw, hold, { promptTokens: 0, completionTokens: 0, source: 'estimated', outcome: reason }, 'release'),
  );
}

/**
 * Settles a turn, or, when its hold was already closed elsewhere (another process's recovery
 * sweep took a turn that outlived the window), returns what that close charged.
 */
export async function settleOrRead(raw: Raw, holdId: number, usage: Usage | 'release'): Promise<SettleResult> {
  try {
    return usage === 'release' ? await release(raw, holdId) : await settle(raw, holdId, usage);
  } catch (err) {
    const hold = stmts(raw).holdById.get(holdId) as HoldRow | undefined;
    if (!(err instanceof LedgerError) || !hold || hold.state === 'held') throw err;
    return { charge: hold.charge ?? 0, uncollected: 0, balance: balanceOf(raw, hold.userId) };
  }
}

export function findHold(raw: Raw, userId: number, turnKey: string): Hold | undefined {
  const row = stmts(raw).holdByKey.get(userId, turnKey) as HoldRow | undefined;
  return row && publicHold(row);
}

/** How often a server marks the holds of its running turns alive; a third of the shortest recovery window. */
export const HEARTBEAT_MS = 20_000;

/** Marks the holds of turns this process is still running alive (see recoverHolds). */
export function heartbeat(raw: Raw, live: ReadonlySet<number>): void {
  if (live.size > 0) stmts(raw).alive.run(JSON.stringify([...live]));
}

/** The holds still open and not heard of for `olderThanMs`: left by a process that died. */
function staleHolds(raw: Raw, olderThanMs: number): number[] {
  return stmts(raw).stale.all(new Date(Date.now() - olderThanMs).toISOString()) as number[];
}

/**
 * Resolves holds not heard of for `olderThanMs` (created or marked alive by heartbeat), left by a
 * process that died mid-turn, by the stop rule: a turn that delivered output is charged its
 * prompt plus what it delivered; one that delivered nothing is released.
 */
export function recoverHolds(raw: Raw, olderThanMs: number, live: ReadonlySet<number> = new Set()): { settled: number; released: number } {
  // `live`: holds of turns this process is still running (it may not have marked them alive yet).
  const ids = staleHolds(raw, olderThanMs).filter((id) => !live.has(id));
  const result = { settled: 0, released: 0 };
  // One transaction per hold, so a long sweep never holds the write lock for long; the wrapper is made once.
  const recoverOne = raw.transaction((id: number) => {
    const hold = stmts(raw).holdById.get(id) as HoldRow | undefined;
    if (!hold || hold.state !== 'held') return; // another process got there first
    const usage: Usage = { promptTokens: hold.promptTokens, completionTokens: hold.delivered, source: 'estimated', outcome: 'recovered' };
    closeHold(raw, hold, usage, hold.delivered > 0 ? 'settle' : 'release');
    result[hold.delivered > 0 ? 'settled' : 'released']++;
  });
  for (const id of ids) recoverOne.immediate(id);
  return result;
}
