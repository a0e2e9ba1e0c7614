// Queries of the ledger: balances, ledger rows, holds (see queries/index.ts).
import type { Changes, Q } from './shape';

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
  /** What the hold took from allowance buckets (JSON, ledger/buckets.ts Part[]); null: all from own tokens. */
  parts?: string | null;
  /** The model's rates when the hold was taken (millionths of a balance token per token): what the turn is charged at. */
  promptRate: number;
  completionRate: number;
  /** The rate of prompt tokens the provider served from its cache. */
  cachedRate: number;
}

/** A hold as stored: what ledger.ts answers, plus the rates it was taken at and what was delivered. */
export type HoldRow = Hold & { delivered: number; parts: string | null };

export interface LedgerRowInput {
  userId: number;
  kind: string;
  amount: number;
  balanceAfter: number;
  actorId: number | null;
  holdId: number | null;
  codeId: number | null;
  note: string | null;
}

/** What closing a hold records on it: its state, its charge, and the turn's usage. */
export interface ClosingHold {
  id: number; state: 'settled' | 'released'; charge: number; promptTokens: number; completionTokens: number; uncollected: number;
  source: string; outcome: string; latencyMs: number | null; conversationId: number | null; messageId: number | null; apiRequestId: string | null;
  cachedTokens: number; reasoningTokens: number; provider: string | null; upstreamModel: string | null;
}

export interface LedgerQueries {
  /** Gives a user a balance row (0) unless they have one. */
  'ledger.open': Q<{ userId: number }, Changes>;
  /** Locks the user's balance row for the transaction (PostgreSQL), so a reserve's spend-limit read and its take are one step; SQLite's write lock already is. */
  'ledger.lockBalance': Q<{ userId: number }, unknown>;
  'ledger.balance': Q<{ userId: number }, number | undefined>;
  /** Adds `amount` (may be negative) when the result stays within [0, max]; the new balance, else undefined. */
  'ledger.add': Q<{ userId: number; amount: number; max: number }, number | undefined>;
  /** Gives back `amount` of a closing hold (no ceiling: it was taken from this balance) and counts the hold closed; the new balance. */
  /**
   * Gives `amount` back to the balance; `open` is 1 when the hold counted open on the balance row,
   * 0 when on its one bucket (SQLite's rule, ledger.ts's openOnBucket; PostgreSQL counts every
   * hold on the balance row and reads no `open`).
   */
  'ledger.refund': Q<{ userId: number; amount: number; open: 0 | 1 }, number>;
  /**
   * A whole reserve in one statement, for the common case: when the balance pays for all of
   * `amount`, the user has fewer than `maxOpen` holds open and (with `limited` 1) no spend limits,
   * takes `amount`, opens the hold and writes its ledger row. Undefined when any of that does not
   * hold or the turn key is taken; then nothing was written.
   */
  'ledger.takeWhole': Q<
    { userId: number; turnKey: string; model: string; amount: number; promptTokens: number; maxCompletion: number;
      promptRate: number; completionRate: number; cachedRate: number; keyId: number | null; owner: string; ruleGroup: string | null; maxOpen: number; limited: 0 | 1 },
    { id: number; balance: number } | undefined
  >;
  /**
   * A whole close in one statement: when hold `id` is still held on exactly these terms (amount
   * and rates, from which the charge was worked out), closes it, gives back `refund` and writes
   * the ledger row. Undefined when it is not; then nothing was written.
   */
  'ledger.closeKnown': Q<
    ClosingHold & { amount: number; promptRate: number; completionRate: number; cachedRate: number; refund: number; kind: 'settle' | 'release'; note: string | null },
    { userId: number; balance: number } | undefined
  >;
  /**
   * takeWhole for someone whose allowance pays: when the first bucket to be spent (the soonest to
   * end, holding tokens at `now`) pays for all of `amount`, nothing of their allowances is due
   * (ledger/buckets.ts), no administrator's limit applies and the rest of takeWhole's conditions
   * hold, takes `amount` from that bucket and opens the hold with it as its one part. SQLite only
   * (ledger.ts asks nothing else): on PostgreSQL the sub-statements of one statement take their
   * locks in no set order, and a close taking a bucket's row before the balance's could deadlock.
   */
  'ledger.takeWholeBucket': Q<
    { userId: number; turnKey: string; model: string; amount: number; promptTokens: number; maxCompletion: number; promptRate: number; completionRate: number;
      cachedRate: number; keyId: number | null; owner: string; ruleGroup: string | null; maxOpen: number; limited: 0 | 1; now: string },
    { id: number; parts: string; balance: number; total: number } | undefined
  >;
  /**
   * closeKnown for a hold taken whole from one bucket (`parts` as stored) still in the period the
   * hold took it in (`partEnd`), not over at `now`: closes it, gives `refund` back to the bucket and writes its row. SQLite only, as
   * takeWholeBucket. Undefined when any of that does not hold; then nothing was written.
   */
  'ledger.closeBucket': Q<
    ClosingHold & { amount: number; promptRate: number; completionRate: number; cachedRate: number; refund: number; kind: 'settle' | 'release';
      parts: string; bucketId: number; partEnd: string; now: string },
    { userId: number; balance: number } | undefined
  >;
  /** Takes min(balance, full) when the balance is at least `minimum`, and counts the hold opened there when `open` is 1 (see ledger.refund). */
  'ledger.take': Q<{ userId: number; full: number; minimum: number; open: 0 | 1 }, { held: number; balance: number } | undefined>;
  /** Counts a hold taken whole from bucket `id` opened (+1) or closed (-1) on it: SQLite's rule (ledger.refund); nothing on PostgreSQL. */
  'ledger.openOnBucket': Q<{ id: number; delta: 1 | -1 }, Changes>;
  'ledger.row': Q<LedgerRowInput, Changes>;
  /** A purchase (tokens paid for) or a refund (tokens taken back) of an order. */
  'ledger.orderRow': Q<{ userId: number; kind: 'purchase' | 'refund'; amount: number; balanceAfter: number; orderId: number; note: string | null }, Changes>;
  /** Tokens a refund took back that the balance did not hold. */
  'ledger.owed': Q<{ userId: number }, number>;
  /** Adds `amount` (may be negative) to what the user owes, never below zero. */
  'ledger.addOwed': Q<{ userId: number; amount: number }, Changes>;
  'ledger.holdByKey': Q<{ userId: number; turnKey: string }, HoldRow | undefined>;
  'ledger.holdById': Q<{ id: number }, HoldRow | undefined>;
  /** A new hold, or undefined when the user already has one with this turn key. */
  'ledger.newHold': Q<
    { userId: number; turnKey: string; model: string; amount: number; promptTokens: number; maxCompletion: number; promptRate: number; completionRate: number; cachedRate: number; keyId: number | null; owner: string;
      ruleGroup: string | null; parts: string | null },
    number | undefined
  >;
  'ledger.closeHold': Q<ClosingHold, Changes>;
  /** How many holds the user has open: their turns running, in every process. */
  'ledger.openCount': Q<{ userId: number }, number>;
  /** What the user's open holds (their answers still running) have set aside. */
  'ledger.heldBy': Q<{ userId: number }, number>;
  'ledger.delivered': Q<{ id: number; tokens: number }, Changes>;
  /** An open hold's figures for what its answer has cost so far (no lock: a page reads it while the turn writes). */
  'ledger.soFar': Q<{ id: number }, { promptTokens: number; delivered: number; promptRate: number; completionRate: number } | undefined>;
  /** Marks held holds (ids as a JSON array) alive now. */
  'ledger.alive': Q<{ ids: string }, Changes>;
  /** Held, and not heard of (created or marked alive) since the cutoff. */
  /** The cutoff is taken on the database's clock, the one alive_at and created_at are written with (hosts' clocks may differ). */
  'ledger.stale': Q<{ olderThanMs: number }, number[]>;
}
