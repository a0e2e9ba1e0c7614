// Roster import (issue 25): a CSV of people (username, display name, email, optional password)
// made members of one group. planRoster reads the file against the accounts and says, row by row,
// who is created, who is added, who is unchanged and which rows are wrong and why; applyRoster
// plans again and applies exactly that plan (or refuses when the plan differs from the one shown:
// its digest), in one write with each change audited. Existing accounts are never altered but for
// their membership. Generated passwords leave only in applyRoster's answer, for a one-time download.
import crypto from 'node:crypto';
import { parse } from 'csv-parse/sync';
import { asAdmin, recordAudit, type Actor } from '../admin/actions';
import { checkPassword, normalizeUsername, UserInputError } from '../accounts/users';
import type { PasswordHasher } from '../accounts/passwords';
import { openAccount } from '../ledger/ledger';
import { query, type Op, type Store } from '../storage/op';
import { addMembers, findGroup, GroupError } from './groups';

export const ROSTER_MAX_ROWS = 1000;
const DISPLAY_MAX = 100;
const EMAIL_MAX = 254;
// Deliberately plain: something@domain.tld without spaces; the provider, not us, proves an address.
const EMAIL = /^[^\s@,;<>"]+@[^\s@,;<>"]+\.[^\s@,;<>"]+$/u;

/** Why a whole file was refused; `code` is the message key suffix (roster.error.<code>). */
export class RosterError extends Error {
  constructor(
    readonly code: 'empty' | 'header' | 'too_many' | 'parse' | 'changed' | 'builtin' | 'no_group',
    readonly vars: Record<string, number | string> = {},
  ) {
    super(code);
  }
}

/** Why one row is wrong (roster.problem.<code>). */
export type RowProblem =
  | 'username_required' | 'username_length' | 'username_chars' | 'duplicate' | 'email' | 'display_name' | 'password_length' | 'password_required';

export type PlanRow =
  | { kind: 'create'; line: number; username: string; displayName: string | null; email: string | null; generated: boolean }
  | { kind: 'add' | 'unchanged'; line: number; username: string; userId: number }
  | { kind: 'wrong'; line: number; username: string; problems: RowProblem[] };

export interface RosterPlan {
  groupId: number;
  rows: PlanRow[];
  counts: Record<PlanRow['kind'], number>;
  /** Of the file and the plan: the apply refuses when its own plan's differs. */
  digest: string;
}

interface Parsed {
  line: number;
  username: string;
  key: string;
  displayName: string | null;
  email: string | null;
  password: string | null;
  problems: RowProblem[];
}

const COLUMNS: Record<string, 'username' | 'displayName' | 'email' | 'password'> = {
  username: 'username', 'display name': 'displayName', display_name: 'displayName', displayname: 'displayName', name: 'displayName',
  email: 'email', 'e-mail': 'email', password: 'password',
};

function records(text: string): { cells: string[]; line: number }[] {
  try {
    const out = parse(text, { bom: true, skip_empty_lines: true, relax_column_count: true, info: true, max_record_size: 4096 }) as unknown as { record: string[]; info: { lines: number } }[];
    return out.map((r) => ({ cells: r.record, line: r.info.lines }));
  } catch (err) {
    const line = (err as { lines?: number }).lines;
    throw new RosterError('parse', { line: line ?? 0 });
  }
}

function attempt<T>(problems: RowProblem[], fn: () => T): T | null {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof UserInputError)) throw err;
    problems.push(err.code as RowProblem);
    return null;
  }
}

/** Reads the file: a header row naming its columns, then at most ROSTER_MAX_ROWS people, each checked alone and against the rows before. */
export function parseRoster(text: string): Parsed[] {
  const all = records(text);
  if (all.length === 0) throw new RosterError('empty');
  const header = all[0]!.cells.map((c) => COLUMNS[c.trim().toLowerCase()]);
  if (!header.includes('username') || header.some((c) => c === undefined) || new Set(header).size !== header.length) throw new RosterError('header');
  const rows = all.slice(1);
  if (rows.length === 0) throw new RosterError('empty');
  if (rows.length > ROSTER_MAX_ROWS) throw new RosterError('too_many', { max: ROSTER_MAX_ROWS, n: rows.length });
  const seen = new Set<string>();
  return rows.map(({ cells, line }) => {
    const cell = (name: string) => {
      const i = header.indexOf(name as never);
      return i < 0 ? '' : (cells[i] ?? '').trim();
    };
    const problems: RowProblem[] = [];
    const name = attempt(problems, () => normalizeUsername(cell('username')));
    if (name && seen.has(name.key)) problems.push('duplicate');
    if (name) seen.add(name.key);
    const displayName = cell('displayName').normalize('NFKC') || null;
    if (displayName && [...displayName].length > DISPLAY_MAX) problems.push('display_name');
    const email = cell('email') || null;
    if (email && (email.length > EMAIL_MAX || !EMAIL.test(email))) problems.push('email');
    // A password is taken as typed (no trim: spaces may be part of it), empty meaning "generate one".
    const i = header.indexOf('password');
    const typed = i < 0 ? '' : (cells[i] ?? '');
    const password = typed === '' ? null : attempt(problems, () => checkPassword(typed));
    return { line, username: name?.username ?? cell('username').slice(0, 64), key: name?.key ?? '', displayName, email, password, problems };
  });
}

function* planOf(groupId: number, parsed: Parsed[], textHash: string): Op<RosterPlan> {
  const group = yield* findGroup(groupId);
  if (!group) throw new RosterError('no_group');
  if (group.builtin) throw new RosterError('builtin');
  const keys = parsed.filter((p) => p.problems.length === 0).map((p) => p.key);
  const found = keys.length ? yield* query('roster.usersByKeys', { keys: JSON.stringify(keys), groupId }) : [];
  const byKey = new Map(found.map((u) => [u.key, u]));
  const rows: PlanRow[] = parsed.map((p): PlanRow => {
    if (p.problems.length) return { kind: 'wrong', line: p.line, username: p.username, problems: p.problems };
    const user = byKey.get(p.key);
    if (!user) return { kind: 'create', line: p.line, username: p.username, displayName: p.displayName, email: p.email, generated: p.password === null };
    return { kind: user.inGroup ? 'unchanged' : 'add', line: p.line, username: p.username, userId: user.id };
  });
  const counts = { create: 0, add: 0, unchanged: 0, wrong: 0 };
  for (const r of rows) counts[r.kind]++;
  const digest = crypto.createHash('sha256').update(JSON.stringify({ groupId, textHash, rows })).digest('base64url');
  return { groupId, rows, counts, digest };
}

/** The dry run: what applying the file to the group would do now. Changes nothing. */
export async function planRoster(store: Store, groupId: number, text: string): Promise<RosterPlan> {
  const parsed = parseRoster(text);
  return store.read(planOf, groupId, parsed, crypto.createHash('sha256').update(text).digest('hex'));
}

/** A generated password: 16 characters of an alphabet without look-alikes (about 90 bits). */
export function generatePassword(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  return Array.from(crypto.randomBytes(16), (b) => alphabet[b % alphabet.length]).join('');
}

/** Hashes with at most `concurrency` at once, so the hasher's wait queue (sign-ins') is never filled by us. */
async function hashAll(hasher: PasswordHasher, passwords: string[], concurrency: number): Promise<string[]> {
  const out = new Array<string>(passwords.length);
  let next = 0;
  const worker = async () => {
    while (next < passwords.length) {
      const i = next++;
      out[i] = await hasher.hash(passwords[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, passwords.length)) }, worker));
  return out;
}

interface NewAccount {
  username: string;
  key: string;
  hash: string;
  displayName: string | null;
  email: string | null;
  mustChange: number;
}

function* applyOp(actorId: Actor, groupId: number, digest: string, creates: NewAccount[], adds: number[], signupBonus: number): Op<number[]> {
  yield* asAdmin(actorId);
  const group = yield* findGroup(groupId);
  if (!group) throw new RosterError('no_group');
  const created: number[] = [];
  for (const a of creates) {
    const id = yield* query('roster.insertUser', a);
    if (id === undefined) throw new RosterError('changed'); // the name was taken since the plan
    yield* openAccount(id, signupBonus);
    yield* recordAudit(actorId, 'user_create', id, { role: 'user', roster: group.name });
    created.push(id);
  }
  try {
    yield* addMembers(actorId, groupId, [...created, ...adds]);
  } catch (err) {
    if (err instanceof GroupError && err.code === 'no_user') throw new RosterError('changed'); // deleted since the plan
    throw err;
  }
  yield* recordAudit(actorId, 'roster_import', null, { group: group.name, created: created.length, added: adds.length, digest });
  return created;
}

export interface RosterResult {
  plan: RosterPlan;
  /** Accounts made with a generated password, the only copy of it in clear. */
  generated: { username: string; password: string }[];
}

/**
 * Applies the file: plans it again and, when `expected` is given, refuses unless that plan's digest
 * is the one the dry run showed. Rows that are wrong are left out, as the dry run said.
 */
export async function applyRoster(
  store: Store, hasher: PasswordHasher,
  input: { actorId: Actor; groupId: number; text: string; expected: string | null; signupBonus: number; concurrency: number },
): Promise<RosterResult> {
  const parsed = parseRoster(input.text);
  const plan = await store.read(planOf, input.groupId, parsed, crypto.createHash('sha256').update(input.text).digest('hex'));
  if (input.expected !== null && plan.digest !== input.expected) throw new RosterError('changed');
  const byLine = new Map(parsed.map((p) => [p.line, p]));
  const toCreate = plan.rows.filter((r) => r.kind === 'create').map((r) => byLine.get(r.line)!);
  const passwords = toCreate.map((p) => p.password ?? generatePassword());
  const hashes = await hashAll(hasher, passwords, input.concurrency);
  const creates = toCreate.map((p, i): NewAccount => ({
    username: p.username, key: p.key, hash: hashes[i]!, displayName: p.displayName, email: p.email, mustChange: p.password === null ? 1 : 0,
  }));
  const adds = plan.rows.flatMap((r) => (r.kind === 'add' ? [r.userId] : []));
  if (creates.length || adds.length) await store.write(applyOp, input.actorId, input.groupId, plan.digest, creates, adds, input.signupBonus);
  const generated = toCreate.flatMap((p, i) => (p.password === null ? [{ username: p.username, password: passwords[i]! }] : []));
  return { plan, generated };
}
