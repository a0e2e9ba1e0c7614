// The reports queries whose text is the same on SQLite and PostgreSQL (plain SQL both understand);
// each dialect's file adds the ones that differ.
import { all, value, type Text } from '../op';
import type { ReportQueries } from '../queries/reports';

export const reportsShared = {
  'rollup.mark': value('SELECT rolled_until FROM usage_rollup WHERE id = 1'),
  'rollup.firstClosed': value('SELECT min(closed_at) FROM holds WHERE closed_at IS NOT NULL'),
  'reports.byProvider': all(`SELECT provider, upstream_model AS "upstreamModel", count(*) AS calls,
      sum(CASE WHEN state = 'released' AND outcome = 'error' THEN 1 ELSE 0 END) AS failed,
      coalesce(sum(used_prompt_tokens), 0) AS prompt, coalesce(sum(cached_tokens), 0) AS cached,
      coalesce(sum(completion_tokens), 0) AS completion, coalesce(sum(charge), 0) AS charge
    FROM holds WHERE provider IS NOT NULL AND state <> 'held' AND closed_at >= @since
    GROUP BY provider, upstream_model ORDER BY charge DESC, provider, upstream_model`),
} satisfies Partial<Record<keyof ReportQueries, Text>>;
