// The system queries whose text is the same on SQLite and PostgreSQL (plain SQL both understand);
// each dialect's file adds the ones that differ.
import { run, value, type Text } from '../op';
import type { SystemQueries } from '../queries/system';

export const systemShared = {
  'system.ping': value('SELECT 1'),
  'system.claimSetting': run('INSERT INTO app_settings (key, value) VALUES (@key, @value) ON CONFLICT (key) DO NOTHING'),
  'system.setting': value('SELECT value FROM app_settings WHERE key = @key'),
} satisfies Partial<Record<keyof SystemQueries, Text>>;
