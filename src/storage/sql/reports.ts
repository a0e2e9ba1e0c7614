// The reports queries whose text is the same on SQLite and PostgreSQL (plain SQL both understand);
// each dialect's file adds the ones that differ.
import { all, get, run, value, type Text } from '../op';
import type { ReportQueries } from '../queries/reports';

export const reportsShared = {
  'rollup.mark': value('SELECT rolled_until FROM usage_rollup WHERE id = 1'),
  'rollup.firstClosed': value('SELECT min(closed_at) FROM holds WHERE closed_at IS NOT NULL'),
} satisfies Partial<Record<keyof ReportQueries, Text>>;
