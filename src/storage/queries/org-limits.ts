// Queries of the limits an administrator sets (groups/limits.ts, ledger/org-limits.ts; see queries/index.ts).
import type { Changes, Q } from './shape';

/** The five limits as stored (NULL: none), named as their columns are. */
export interface LimitsRow {
  tokens_per_day: number | null;
  tokens_per_month: number | null;
  requests_per_minute: number | null;
  requests_per_hour: number | null;
  answers_at_once: number | null;
}

/** A group's limits as they apply to a member, with the group's name. */
export interface GroupLimitsRow extends LimitsRow {
  name: string;
}

export interface OrgLimitQueries {
  'orgLimits.ofGroup': Q<{ groupId: number }, LimitsRow | undefined>;
  'orgLimits.setGroup': Q<LimitsRow & { groupId: number }, Changes>;
  /** What an administrator set for this user (undefined: nothing). */
  'orgLimits.ofUser': Q<{ userId: number }, LimitsRow | undefined>;
  'orgLimits.setUser': Q<LimitsRow & { userId: number }, Changes>;
  /** The limits of the groups whose rules the user follows: theirs, or Everyone's when they are in none. */
  'orgLimits.groupsOf': Q<{ userId: number }, GroupLimitsRow[]>;
  /** Holds the user took after @since (turns and /v1 calls, whatever became of them). */
  'orgLimits.requestsSince': Q<{ userId: number; since: string }, number>;
  /** When the hold after @since, @skip holds after the oldest, was taken. */
  'orgLimits.requestAt': Q<{ userId: number; since: string; skip: number }, string | undefined>;
  /** Records a request taken by someone a request limit applies to (a hold opened), at the reserve's clock. */
  'orgLimits.logRequest': Q<{ userId: number; at: string }, Changes>;
  /** Forgets requests older than any window (the sweep). */
  'orgLimits.pruneRequests': Q<{ before: string }, Changes>;
}
