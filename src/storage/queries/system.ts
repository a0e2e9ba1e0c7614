// Queries of the store itself (see queries/index.ts).
import type { Q } from './index';

export interface SystemQueries {
  'system.ping': Q<Record<string, never>, number | undefined>;
}
