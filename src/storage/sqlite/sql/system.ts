// SQLite texts of the store's own queries.
import { value, type Text } from '../../op';
import type { SystemQueries } from '../../queries/system';

export const systemSql: { readonly [K in keyof SystemQueries]: Text } = {
  'system.ping': value('SELECT 1'),
};
