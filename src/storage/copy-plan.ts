// What `tokenchat db copy` moves, read from the two schemas rather than listed by hand: every table
// of the SQLite database (a table a later migration adds is copied without anyone remembering to
// add it here), in an order that satisfies the foreign keys of both databases, with the identity
// counters PostgreSQL must move past the copied ids. Only what is deliberately left behind is named.
import type { PoolClient } from 'pg';
import type { SqliteStore } from './sqlite/store';

/** Tables left behind on purpose, each with why. Everything else in the source is copied. */
export const NOT_COPIED: Readonly<Record<string, string>> = {
  schema_migrations: "the target records its own migrations (PostgreSQL's are numbered apart) and is migrated before the copy",
};

/** Tables PostgreSQL's migrations seed with rows the source holds too (the built-in Everyone group,
 * the usage rollup's mark): emptied in the target, then copied from the source with their ids. */
export const SEEDED = ['groups', 'usage_rollup'];

export class CopyError extends Error {}

export interface CopyTable {
  name: string;
  columns: string[];
  /** A foreign key to itself: rows are read in rowid order, so a parent (an older row) comes first. */
  selfReferencing: boolean;
}

export interface CopyPlan {
  /** Parents before children. */
  tables: CopyTable[];
  /** Columns whose PostgreSQL sequence (identity or serial) must continue after the copied ids. */
  counters: Array<{ table: string; column: string }>;
}

/** The source's tables, but for SQLite's own and those NOT_COPIED. */
export function sourceTables(raw: SqliteStore['raw']): string[] {
  const names = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").pluck().all() as string[];
  return names.filter((name) => !(name in NOT_COPIED));
}

/** Reads both schemas and refuses (CopyError) when the target lacks a table or column the source has. */
export async function planCopy(raw: SqliteStore['raw'], client: PoolClient): Promise<CopyPlan> {
  const names = sourceTables(raw);
  const targetColumns = await columnsInTarget(client);
  const edges = new Map<string, Set<string>>(names.map((name) => [name, new Set<string>()]));
  const tables = names.map((name) => {
    const columns = (raw.prepare(`PRAGMA table_info("${name}")`).all() as Array<{ name: string }>).map((c) => c.name);
    const there = targetColumns.get(name);
    if (!there) throw new CopyError(`table ${name} is not in the PostgreSQL database: its migrations are behind this SQLite database's`);
    const missing = columns.filter((c) => !there.has(c));
    if (missing.length) throw new CopyError(`${name}.${missing.join(', ')} not in the PostgreSQL database: its migrations are behind this SQLite database's`);
    for (const fk of raw.prepare(`PRAGMA foreign_key_list("${name}")`).all() as Array<{ table: string }>) edges.get(name)!.add(fk.table);
    return { name, columns, selfReferencing: false };
  });
  const pgEdges = await client.query<{ child: string; parent: string }>(
    `SELECT c.relname AS child, p.relname AS parent FROM pg_constraint k
       JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
      WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace`,
  );
  for (const { child, parent } of pgEdges.rows) edges.get(child)?.add(parent);
  const order = parentsFirst(edges);
  const byName = new Map(tables.map((t) => [t.name, { ...t, selfReferencing: edges.get(t.name)!.has(t.name) }]));
  return { tables: order.map((name) => byName.get(name)!), counters: await countersOf(client, new Set(names)) };
}

async function columnsInTarget(client: PoolClient): Promise<Map<string, Set<string>>> {
  const { rows } = await client.query<{ table_name: string; column_name: string }>(
    `SELECT c.table_name, c.column_name FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'`,
  );
  const out = new Map<string, Set<string>>();
  for (const r of rows) (out.get(r.table_name) ?? out.set(r.table_name, new Set()).get(r.table_name)!).add(r.column_name);
  return out;
}

async function countersOf(client: PoolClient, copied: Set<string>): Promise<CopyPlan['counters']> {
  const { rows } = await client.query<{ table_name: string; column_name: string }>(
    `SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')
      ORDER BY table_name, column_name`,
  );
  return rows.filter((r) => copied.has(r.table_name)).map((r) => ({ table: r.table_name, column: r.column_name }));
}

/** A topological order (alphabetical among equals, so every run copies alike); a cycle is refused. */
export function parentsFirst(edges: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const order: string[] = [];
  const placed = new Set<string>();
  const waiting = [...edges.keys()].sort();
  while (waiting.length) {
    const next = waiting.findIndex((name) => [...edges.get(name)!].every((p) => p === name || placed.has(p) || !edges.has(p)));
    if (next < 0) throw new CopyError(`foreign keys form a cycle among ${waiting.join(', ')}: no order copies them`);
    const [name] = waiting.splice(next, 1);
    order.push(name!);
    placed.add(name!);
  }
  return order;
}
