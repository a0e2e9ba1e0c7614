// Queries of the spend domain (see queries/index.ts).
import type { Changes, Q } from './shape';

export interface SpendLimits {
  perMessage: number | null;
  perDay: number | null;
}

export interface SpendQueries {
  'spend.limits': Q<{ userId: number }, SpendLimits | undefined>;
  'spend.setLimits': Q<{ userId: number; perMessage: number | null; perDay: number | null }, Changes>;
  /** Charged since @since for turns that ended then, plus what turns in flight hold. */
  'spend.spentToday': Q<{ userId: number; since: string }, number>;
}
