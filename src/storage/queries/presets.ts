// Queries of prompt presets (chat/presets.ts; see queries/index.ts).
import type { Changes, Q } from './shape';

export type PresetKind = 'prompt' | 'system';

export interface PresetRow {
  id: number;
  /** The owner; null: published by an admin. */
  userId: number | null;
  /** Published to this group's members; null (with userId null): to everybody. */
  groupId: number | null;
  groupName: string | null;
  kind: PresetKind;
  name: string;
  body: string;
  updatedAt: string;
}

export interface PresetQueries {
  'presets.insert': Q<{ userId: number | null; groupId: number | null; kind: PresetKind; name: string; body: string }, number | undefined>;
  'presets.countOwn': Q<{ userId: number }, number>;
  'presets.countPublished': Q<Record<string, never>, number>;
  /** A user's own presets, by name. */
  'presets.own': Q<{ userId: number }, PresetRow[]>;
  /** What admins published that reaches the user: to everybody, to their groups (Everyone's when in none). */
  'presets.publishedFor': Q<{ userId: number }, PresetRow[]>;
  /** Everything admins published, by name. */
  'presets.published': Q<Record<string, never>, PresetRow[]>;
  'presets.byId': Q<{ id: number }, PresetRow | undefined>;
  'presets.update': Q<{ id: number; groupId: number | null; kind: PresetKind; name: string; body: string; now: string }, Changes>;
  'presets.delete': Q<{ id: number }, Changes>;
}
