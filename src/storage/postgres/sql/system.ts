// PostgreSQL texts of the store's own queries (translated from storage/sqlite/sql/system.ts).
import { value, type Text } from '../../op';
import type { SystemQueries } from '../../queries/system';

export const systemSql: { readonly [K in keyof SystemQueries]: Text } = {
  'system.ping': value('SELECT 1'),
};
