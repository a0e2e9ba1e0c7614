// Queries of the store itself (see queries/index.ts).
import type { Changes, Q } from './shape';

export interface SystemQueries {
  'system.ping': Q<Record<string, never>, number | undefined>;
  /** Records a setting unless one is recorded; answers the value in force. */
  'system.claimSetting': Q<{ key: string; value: string }, Changes>;
  'system.setting': Q<{ key: string }, string | undefined>;
  'system.putSetting': Q<{ key: string; value: string }, Changes>;
}
