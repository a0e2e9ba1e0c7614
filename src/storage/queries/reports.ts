// Queries of the reports domain (see queries/index.ts): the usage reports (usage-report.ts), the
// usage rollup (usage-rollup.ts) and the ledger checks (ledger-verify.ts).
import type { Changes, Q } from './shape';

/** The kinds of ledger row (the ledger table's CHECK constraint lists the same). */
export const LEDGER_KINDS = ['signup_bonus', 'grant', 'redeem', 'reserve', 'settle', 'release', 'adjust', 'purchase', 'refund'] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];

export interface Totals {
  turns: number;
  charge: number;
  prompt: number;
  completion: number;
}

export interface ModelRow extends Totals {
  model: string;
}

export interface ConversationRow extends Totals {
  conversationId: number;
  /** null when the conversation was deleted (its turns still count), or never titled. */
  title: string | null;
  exists: 0 | 1;
  last: string;
}

export interface DayRow extends Totals {
  day: string;
}

export interface UserUsageRow extends Totals {
  userId: number;
  username: string;
}

export interface ProviderRow {
  provider: string;
  upstreamModel: string | null;
  calls: number;
  /** Calls it failed before any output (released: nothing charged). */
  failed: number;
  prompt: number;
  cached: number;
  completion: number;
  charge: number;
}

export interface LedgerRow {
  id: number;
  createdAt: string;
  kind: LedgerKind;
  amount: number;
  balanceAfter: number;
  note: string | null;
  model: string | null;
  promptTokens: number | null;
  completionTokens: number | null;
  conversationId: number | null;
  messageId: number | null;
  /** The API key the turn was made with; null: the chat page (or not a turn). */
  apiKey: string | null;
  /** A settled turn's prompt tokens the provider served from its cache, and its hidden reasoning tokens (null on other rows). */
  cachedTokens: number | null;
  reasoningTokens: number | null;
  /** The provider that served the turn (or failed it last). */
  provider: string | null;
  /** For a turn's rows: what its hold set aside, and whether it is still held. */
  heldAmount: number | null;
  holdState: 'held' | 'settled' | 'released' | null;
}

type None = Record<string, never>;
/** Totals of all turns, with what was charged since @today and since @month (UTC days, YYYY-MM-DD). */
type PeriodRow = Totals & { todayCharge: number; monthCharge: number };
/** The optional filters of the ledger history (null: not filtered); @from and @to are ISO times. */
interface LedgerWhere {
  userId: number;
  kind: LedgerKind | null;
  from: string | null;
  to: string | null;
  /** 1: a closed turn is one row (its closing row), its reserve left out; 0: every row, as the CSV has them. */
  fold: 0 | 1;
}

export interface ReportQueries {
  // Turns closed since @since (a UTC day boundary, or '' for all time): the rollup's days plus the
  // turns closed after its mark. OfUser: one user's; OfAll: everyone's summed.
  'reports.dailyOfUser': Q<{ userId: number; since: string }, DayRow[]>;
  'reports.dailyOfAll': Q<{ since: string }, DayRow[]>;
  'reports.periodOfUser': Q<{ userId: number; since: string; today: string; month: string }, PeriodRow>;
  'reports.periodOfAll': Q<{ since: string; today: string; month: string }, PeriodRow>;
  'reports.byModelOfUser': Q<{ userId: number; since: string }, ModelRow[]>;
  'reports.byModelOfAll': Q<{ since: string }, ModelRow[]>;
  /** Charged since @since for the user's calls through API keys. */
  'reports.apiSpentSince': Q<{ userId: number; since: string }, number>;
  /** The user's spending through the chat page (apiKey null) and through each API key, all time. */
  'reports.bySource': Q<{ userId: number }, Array<{ apiKey: string | null; turns: number; charge: number }>>;
  /** Calls closed since @since by the provider (and its model) that served them, or failed last. */
  'reports.byProvider': Q<{ since: string }, ProviderRow[]>;
  'reports.byConversation': Q<{ userId: number; limit: number }, ConversationRow[]>;
  /** The users who spent the most since @since, user by user. */
  'reports.topUsers': Q<{ since: string; limit: number }, UserUsageRow[]>;
  /** One page of a user's ledger, newest first. */
  'reports.ledgerPage': Q<LedgerWhere & { limit: number; offset: number }, LedgerRow[]>;
  /** A user's ledger oldest first, after @afterId. */
  'reports.ledgerChunk': Q<LedgerWhere & { afterId: number; size: number }, LedgerRow[]>;

  /** The rollup's mark: every turn closed before it is rolled up, none at or after it. */
  'rollup.mark': Q<None, string>;
  /** The mark, locked for the step's transaction (PostgreSQL): two processes' steps take turns, so no day is added twice. */
  'rollup.markForStep': Q<None, string>;
  'rollup.firstClosed': Q<None, string | null>;
  'rollup.perUser': Q<{ from: string; to: string }, Changes>;
  'rollup.everyone': Q<{ from: string; to: string }, Changes>;
  /** Moves the mark from @from to @to, unless another process moved it first. */
  'rollup.move': Q<{ from: string; to: string }, Changes>;

  'verify.sums': Q<None, Array<{ userId: number; balance: number; total: number }>>;
  'verify.lastRows': Q<None, Array<{ userId: number; after: number; balance: number }>>;
  'verify.stale': Q<{ cutoff: string }, Array<{ id: number; userId: number; at: string }>>;
  'verify.unbalancedHolds': Q<None, Array<{ id: number; userId: number }>>;
  /** Users whose owed tokens plus the tokens refund rows took differ from what their refunded orders are due back. */
  'verify.owed': Q<None, Array<{ userId: number; owed: number; taken: number; due: number }>>;
  /** Balance rows whose count of open holds differs from the holds held. */
  'verify.openHolds': Q<None, Array<{ userId: number; counted: number; held: number }>>;
  'verify.rollup': Q<None, Array<{ userId: number | null; day: string; model: string; scope: string }>>;
}
