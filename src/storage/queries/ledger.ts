// Queries of the ledger: balances, ledger rows, holds (see queries/index.ts).
import type { Hold } from '../../ledger';
import type { Changes } from '../op';
import type { Q } from './index';

/** A hold as stored: what ledger.ts answers, plus the rates it was taken at and what was delivered. */
export type HoldRow = Hold & { promptRate: number; completionRate: number; delivered: number };

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

export interface LedgerQueries {
  /** Gives a user a balance row (0) unless they have one. */
  'ledger.open': Q<{ userId: number }, Changes>;
  /** Locks the user's balance row for the transaction (PostgreSQL), so a reserve's spend-limit read and its take are one step; SQLite's write lock already is. */
  'ledger.lockBalance': Q<{ userId: number }, unknown>;
  'ledger.balance': Q<{ userId: number }, number | undefined>;
  /** Adds `amount` (may be negative) when the result stays within [0, max]; the new balance, else undefined. */
  'ledger.add': Q<{ userId: number; amount: number; max: number }, number | undefined>;
  /** Takes min(balance, full) when the balance is at least `minimum`. */
  'ledger.take': Q<{ userId: number; full: number; minimum: number }, { held: number; balance: number } | undefined>;
  'ledger.row': Q<LedgerRowInput, Changes>;
  'ledger.holdByKey': Q<{ userId: number; turnKey: string }, HoldRow | undefined>;
  'ledger.holdById': Q<{ id: number }, HoldRow | undefined>;
  /** A new hold, or undefined when the user already has one with this turn key. */
  'ledger.newHold': Q<
    { userId: number; turnKey: string; model: string; amount: number; promptTokens: number; maxCompletion: number; promptRate: number; completionRate: number },
    number | undefined
  >;
  'ledger.closeHold': Q<
    {
      id: number; state: 'settled' | 'released'; charge: number; promptTokens: number; completionTokens: number; uncollected: number;
      source: string; outcome: string; latencyMs: number | null; conversationId: number | null; messageId: number | null; apiRequestId: string | null;
    },
    Changes
  >;
  /** How many holds the user has open: their turns running, in every process. */
  'ledger.openCount': Q<{ userId: number }, number>;
  /** What the user's open holds (their answers still running) have set aside. */
  'ledger.heldBy': Q<{ userId: number }, number>;
  'ledger.delivered': Q<{ id: number; tokens: number }, Changes>;
  /** Marks held holds (ids as a JSON array) alive now. */
  'ledger.alive': Q<{ ids: string }, Changes>;
  /** Held, and not heard of (created or marked alive) since the cutoff. */
  /** The cutoff is taken on the database's clock, the one alive_at and created_at are written with (hosts' clocks may differ). */
  'ledger.stale': Q<{ olderThanMs: number }, number[]>;
}
