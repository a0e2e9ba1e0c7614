// SQLite texts of the store's own queries.
import { run, value, type Text } from '../../op';
import type { SystemQueries } from '../../queries/system';

export const systemSql: { readonly [K in keyof SystemQueries]: Text } = {
  'system.ping': value('SELECT 1'),
  'system.claimSetting': run('INSERT INTO app_settings (key, value) VALUES (@key, @value) ON CONFLICT (key) DO NOTHING'),
  'system.setting': value('SELECT value FROM app_settings WHERE key = @key'),
  'system.putSetting': run(`INSERT INTO app_settings (key, value) VALUES (@key, @value)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`),
};
