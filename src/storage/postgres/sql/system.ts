// PostgreSQL texts of the store's own queries (translated from storage/sqlite/sql/system.ts).
import { run, type Text } from '../../op';
import type { SystemQueries } from '../../queries/system';
import { systemShared } from '../../sql/system';

export const systemSql: { readonly [K in keyof SystemQueries]: Text } = {
  ...systemShared,
  'system.putSetting': run(`INSERT INTO app_settings (key, value) VALUES (@key, @value)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = iso_now()`),
};
