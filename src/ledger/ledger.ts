// The ONLY writer of balances. Every change is one append-only ledger row written in the same
// transaction as the balance update; `balance >= 0` is enforced by the schema (a CHECK constraint
// on SQLite, the column's domain on PostgreSQL: migration 039).
// Each rule is written once, as an operation (storage/op.ts) that the store runs in a write
// transaction taking the write lock first; on SQLite, writes that arrive together share one
// transaction (group commit). Other domains compose `credit` and `openAccount` into their own
// write operations (a redeemed code, a new account), so the balance rule stays here.
import { EventEmitter } from 'node:events';
import { query, type Op, type Store } from '../storage/op';
import type { Hold, HoldRow } from '../storage/queries/ledger';
import { affordableCompletion, priceOf, type ModelInfo } from '../metering/models';
import { isDatabaseFault } from '../storage/faults';
import { PROCESS_OWNER } from './owner';
import { keyAllowance, keyMinuteRoom, spendAllowance, type KeyLimits } from './spend-limits';
import { logRequest, orgRoom, type OrgRefusal } from './org-limits';
import { liveBuckets, lockAccount, RefillRace, returnParts, syncAllowances, takeParts, type Part } from './buckets';

export type { Hold } from '../storage/queries/ledger';

export type CreditKind = 'signup_bonus' | 'grant' | 'adjust';
export const MAX_AMOUNT = 1_000_000_000_000; // a trillion tokens: far past any real grant, far below 2^53
/** The most a balance may hold: still an exact integer in JavaScript and in SQLite. */
export const MAX_BALANCE = 1_000_000_000_000_000;

export class LedgerError extends Error {}

/** What a close needs to know of a hold to work out its charge without reading it first. */
export type HoldTerms = Pick<Hold, 'id' | 'amount' | 'promptRate' | 'completionRate' | 'cachedRate' | 'parts'>;

export type ReserveResult =
  | { status: 'held'; hold: Hold; balance: number }
  | { status: 'duplicate'; hold: Hold; balance: number }
  | { status: 'insufficient'; missing: number; balance: number }
  | { status: 'over_limit'; allowance: number; balance: number }
  /** The key's tokens per minute leave `room` tokens, fewer than the prompt and the least completion. */
  | { status: 'rate_limited'; room: number; retryAfterSeconds: number }
  | { status: 'busy'; open: number }
  /** A limit the organisation set (a group's or the administrator's for this user) refuses the turn. */
  | { status: 'org_limited'; refusal: OrgRefusal };

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  /** Of the prompt tokens, those the provider served from its cache (charged at the cached rate). */
  cachedTokens?: number;
  /** Of the completion tokens, the hidden reasoning ones the provider reported. */
  reasoningTokens?: number;
  /** Which provider served the turn, and its name for the model. */
  provider?: string;
  upstreamModel?: string;
  source: 'reported' | 'estimated';
  outcome: 'ok' | 'stopped' | 'error' | 'recovered';
  latencyMs?: number;
  conversationId?: number;
  messageId?: number;
  apiRequestId?: string;
  /** The clock the close reads periods by (tests move it); default now. */
  now?: Date;
}

export interface SettleResult {
  charge: number;
  uncollected: number;
  balance: number;
}

function checkAmount(amount: unknown): number {
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount === 0 || Math.abs(amount) > MAX_AMOUNT) {
    throw new LedgerError(`amount must be a whole number from 1 to ${MAX_AMOUNT} (or its negative)`);
  }
  return amount;
}

const publicHold = ({ delivered: _d, ...hold }: HoldRow): Hold => hold;

export function* balanceOf(userId: number): Op<number> {
  return (yield* query('ledger.balance', { userId })) ?? 0;
}

/** Adds (or, negative, removes) tokens inside a write operation; never below zero. */
export function* credit(entry: {
  userId: number; amount: number; kind: CreditKind | 'redeem'; actorId?: number | null; codeId?: number; note?: string;
}): Op<number> {
  yield* query('ledger.open', { userId: entry.userId });
  const balance = yield* query('ledger.add', { userId: entry.userId, amount: entry.amount, max: MAX_BALANCE });
  if (balance === undefined) {
    const now = yield* balanceOf(entry.userId);
    throw new LedgerError(entry.amount < 0 ? `balance would go below zero (it is ${now})` : `balance would pass the maximum of ${MAX_BALANCE} (it is ${now})`);
  }
  yield* query('ledger.row', {
    userId: entry.userId, kind: entry.kind, amount: entry.amount, balanceAfter: balance,
    actorId: entry.actorId ?? null, holdId: null, codeId: entry.codeId ?? null, note: entry.note ?? null,
  });
  return balance;
}

/**
 * Credits the tokens an order paid for (one `purchase` row: the ledger's UNIQUE index makes it
 * once per order), inside the write that marks the order paid. Tokens the user owes from an
 * earlier refund are taken from it at once (a `refund` row). Answers the balance.
 */
export function* creditPurchase(userId: number, orderId: number, tokens: number): Op<{ balance: number; repaid: number }> {
  yield* lockAccount(userId);
  let balance = yield* query('ledger.add', { userId, amount: checkAmount(tokens), max: MAX_BALANCE });
  if (balance === undefined) throw new LedgerError(`balance would pass the maximum of ${MAX_BALANCE}`);
  yield* query('ledger.orderRow', { userId, kind: 'purchase', amount: tokens, balanceAfter: balance, orderId, note: null });
  const repaid = Math.min(yield* query('ledger.owed', { userId }), tokens);
  if (repaid > 0) {
    balance = (yield* query('ledger.add', { userId, amount: -repaid, max: MAX_BALANCE }))!;
    yield* query('ledger.orderRow', { userId, kind: 'refund', amount: -repaid, balanceAfter: balance, orderId, note: 'owed from an earlier refund' });
    yield* query('ledger.addOwed', { userId, amount: -repaid });
  }
  return { balance, repaid };
}

/** Tokens the user owes from refunds (taken from their next purchase). */
export function* owedBy(userId: number): Op<number> {
  return yield* query('ledger.owed', { userId });
}

/**
 * Takes back `tokens` for a refunded order: as many as the balance holds (a `refund` row), the
 * rest owed, taken from the next purchase. Never below zero.
 */
export function* takeBack(userId: number, orderId: number, tokens: number): Op<{ taken: number; owed: number; balance: number }> {
  yield* lockAccount(userId);
  let balance = yield* balanceOf(userId);
  const taken = Math.min(balance, tokens);
  if (taken > 0) {
    balance = (yield* query('ledger.add', { userId, amount: -taken, max: MAX_BALANCE }))!;
    yield* query('ledger.orderRow', { userId, kind: 'refund', amount: -taken, balanceAfter: balance, orderId, note: null });
  }
  if (tokens > taken) yield* query('ledger.addOwed', { userId, amount: tokens - taken });
  return { taken, owed: tokens - taken, balance };
}

/** Gives a new account its balance row and, when there is one, its signup bonus, inside a write operation. */
export function* openAccount(userId: number, signupBonus: number): Op<number> {
  if (signupBonus === 0) {
    yield* query('ledger.open', { userId });
    return 0;
  }
  return yield* credit({ userId, amount: checkAmount(signupBonus), kind: 'signup_bonus' });
}

/** Grants (positive) or deducts (negative) tokens; a deduction past zero is refused and writes nothing. */
export async function grant(
  store: Store,
  userId: number,
  amount: unknown,
  opts: { kind?: CreditKind; actorId?: number; note?: string } = {},
): Promise<number> {
  const checked = checkAmount(amount);
  if (opts.note !== undefined && opts.note.length > 500) throw new LedgerError('note must be at most 500 characters');
  const kind = opts.kind ?? (checked > 0 ? 'grant' : 'adjust'); // a deduction is an adjustment, as on the admin pages
  return store.write(credit, { userId, amount: checked, kind, actorId: opts.actorId, note: opts.note });
}

export interface ReserveRequest {
  userId: number;
  turnKey: string;
  model: ModelInfo;
  promptTokens: number;
  maxCompletion: number;
  /** Whether the user's spend limits apply (spend-limits.ts), read in the reserve's transaction. */
  limits?: boolean;
  /** The API key the call is made with (/v1): recorded on the hold; its limits apply too. */
  key?: KeyLimits;
  /** The most turns the user may have running at once, in every process together (TURNS_PER_USER). */
  maxOpen?: number;
  /**
   * The fewest completion tokens worth calling the model for (MIN_COMPLETION_TOKENS, or maxCompletion
   * when fewer): a balance or a limit that pays for less refuses the turn, instead of charging the
   * prompt for an answer cut off at its first token. Default 1.
   */
  minCompletion?: number;
  /** The clock periods and limits are read by (tests move it); default now. */
  now?: Date;
  /** The group whose rule priced the model (groups/access.ts), null for Everyone's: recorded on the hold for usage by group. */
  ruleGroup?: string | null;
}

/** A repeated turn key: the write is rolled back and the first hold is answered instead. */
class DuplicateTurn extends Error {}

function* reserveOp(req: ReserveRequest): Op<ReserveResult> {
  // The allowance is read, then the balance taken: the balance row is locked first, so the user's
  // reserves on other connections wait and cannot pass a daily limit together.
  const now = req.now ?? new Date();
  // Locked first, always: allowance refills and the organisation's limits are read here too.
  yield* lockAccount(req.userId);
  yield* syncAllowances(req.userId, now);
  if (req.maxOpen !== undefined) {
    const open = yield* query('ledger.openCount', { userId: req.userId });
    if (open >= req.maxOpen) return { status: 'busy', open };
  }
  let wanted = req.maxCompletion;
  const least = leastCompletion(req);
  const minute = req.key ? yield* keyMinuteRoom(req.key) : undefined;
  if (minute) {
    if (minute.tokens < req.promptTokens + least) return { status: 'rate_limited', room: minute.tokens, retryAfterSeconds: minute.retryAfterSeconds };
    wanted = Math.min(wanted, minute.tokens - req.promptTokens);
  }
  // The organisation's limits (a group's, or the administrator's for this user) come before the
  // user's own: a refusal by them names the rule and when it lifts.
  const org = yield* orgRoom(req.userId, now);
  if ('refusal' in org) return { status: 'org_limited', refusal: org.refusal };
  if (org.tokens !== null && org.short && affordableCompletion(req.model, req.promptTokens, org.tokens) < least) return { status: 'org_limited', refusal: org.short };
  const allowance = lesser(org.tokens, lesser(req.limits ? yield* spendAllowance(req.userId) : null, req.key ? yield* keyAllowance(req.key) : null));
  if (allowance !== null) {
    wanted = Math.min(wanted, affordableCompletion(req.model, req.promptTokens, allowance));
    if (wanted < least) return { status: 'over_limit', allowance, balance: yield* balanceOf(req.userId) };
  }
  const minimum = priceOf(req.model, req.promptTokens, least);
  const full = priceOf(req.model, req.promptTokens, wanted);
  const buckets = yield* liveBuckets(req.userId, now);
  const result = buckets.length > 0 ? yield* reserveFromBuckets(req, buckets, { wanted, minimum, full }) : yield* reserveFromOwn(req, { wanted, minimum, full });
  if (result.status === 'held' && org.countsRequests) yield* logRequest(req.userId, now);
  return result;
}

/** A reserve from own tokens alone (no allowance bucket holds any): one conditional take. */
function* reserveFromOwn(req: ReserveRequest, { wanted, minimum, full }: { wanted: number; minimum: number; full: number }): Op<ReserveResult> {
  const took = yield* query('ledger.take', { userId: req.userId, full, minimum, open: 1 });
  if (!took) {
    const balance = yield* balanceOf(req.userId);
    return { status: 'insufficient', missing: minimum - balance, balance };
  }
  const row = holdRow(req, took.held, Math.min(wanted, affordableCompletion(req.model, req.promptTokens, took.held)));
  // A repeated turn key is rare, so it is not looked up first: the hold's INSERT does nothing on
  // the UNIQUE (user_id, turn_key), and the whole write (the take too) is rolled back.
  const id = yield* query('ledger.newHold', row);
  if (id === undefined) throw new DuplicateTurn();
  yield* query('ledger.row', { userId: req.userId, kind: 'reserve', amount: -took.held, balanceAfter: took.balance, actorId: null, holdId: id, codeId: null, note: null });
  return { status: 'held', hold: newHold(id, row), balance: took.balance };
}

/**
 * A reserve for someone whose allowance buckets hold tokens: the hold takes from them first, the
 * soonest to end first, then from own tokens; `parts` on the hold says what came from where, so
 * the close gives each part back to its own bucket. The balance answered is both kinds together.
 */
function* reserveFromBuckets(
  req: ReserveRequest, buckets: readonly { id: number; balance: number; endsAt: string }[], terms: { wanted: number; minimum: number; full: number },
): Op<ReserveResult> {
  const own = yield* balanceOf(req.userId);
  const inBuckets = buckets.reduce((sum, b) => sum + b.balance, 0);
  if (own + inBuckets < terms.minimum) return { status: 'insufficient', missing: terms.minimum - own - inBuckets, balance: own + inBuckets };
  const held = Math.min(terms.full, own + inBuckets);
  const parts: Part[] = [];
  let rest = held;
  for (const b of buckets) {
    if (rest === 0) break;
    const n = Math.min(b.balance, rest);
    parts.push({ a: b.id, n, e: b.endsAt });
    rest -= n;
  }
  // `rest` comes from own tokens; the take also counts the hold open, unless its one bucket does.
  const bucket = openOnBucket(held, parts);
  const took = (yield* query('ledger.take', { userId: req.userId, full: rest, minimum: rest, open: bucket === null ? 1 : 0 }))!;
  const row = { ...holdRow(req, held, Math.min(terms.wanted, affordableCompletion(req.model, req.promptTokens, held))), parts: JSON.stringify(parts) };
  const id = yield* query('ledger.newHold', row);
  if (id === undefined) throw new DuplicateTurn();
  yield* takeParts(req.userId, id, parts);
  if (bucket !== null) yield* query('ledger.openOnBucket', { id: bucket, delta: 1 });
  if (rest > 0) yield* query('ledger.row', { userId: req.userId, kind: 'reserve', amount: -rest, balanceAfter: took.balance, actorId: null, holdId: id, codeId: null, note: null });
  return { status: 'held', hold: newHold(id, row), balance: took.balance + inBuckets - (held - rest) };
}

/**
 * The bucket a hold counts open on: on SQLite, a hold taken whole from one bucket counts there,
 * so the one-statement take and close from a bucket leave the balance row alone (migration 033);
 * every other hold counts on the balance row (and on PostgreSQL every hold: its texts say so).
 */
function openOnBucket(amount: number, parts: readonly Part[]): number | null {
  return parts.length === 1 && parts[0]!.n === amount ? parts[0]!.a : null;
}

/** The fewest completion tokens the reserve must pay for: the useful minimum, or all that is asked when less. */
export function leastCompletion(req: Pick<ReserveRequest, 'minCompletion' | 'maxCompletion'>): number {
  return Math.max(1, Math.min(req.minCompletion ?? 1, req.maxCompletion));
}

/** The new hold's row: the request's terms, at `amount` for `maxCompletion` completion tokens. */
function holdRow(req: ReserveRequest, amount: number, maxCompletion: number) {
  return {
    userId: req.userId, turnKey: req.turnKey, model: req.model.id, amount, promptTokens: req.promptTokens,
    maxCompletion, promptRate: req.model.promptRate, completionRate: req.model.completionRate, cachedRate: req.model.cachedRate, keyId: req.key?.id ?? null,
    owner: PROCESS_OWNER, ruleGroup: req.ruleGroup ?? req.model.pricedBy ?? null, parts: null as string | null,
  };
}

function newHold(id: number, { keyId: _k, owner: _o, ruleGroup: _g, ...row }: ReturnType<typeof holdRow>): Hold {
  return { id, ...row, state: 'held', charge: null };
}

/** The smaller of two allowances, where null is no limit. */
const lesser = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : Math.min(a, b));

/**
 * The common reserve (the balance pays for the whole completion asked for, the user is under
 * TURNS_PER_USER and has no spend limits) as ONE statement: on PostgreSQL one round trip instead
 * of a transaction of six. Its amounts are worked out here, by the same rule as reserveOp's; when
 * any condition fails, it writes nothing and reserveOp decides, in a transaction.
 */
async function reserveWhole(store: Store, req: ReserveRequest): Promise<ReserveResult | undefined> {
  const amount = priceOf(req.model, req.promptTokens, req.maxCompletion);
  if (amount < 1 || req.maxCompletion < 1 || (req.key && (req.key.perDay !== null || req.key.total !== null || req.key.tpm != null))) return undefined;
  const row = holdRow(req, amount, req.maxCompletion);
  // One object literal (spreads made a dictionary of it on every reserve: storage/sqlite/store.ts).
  const params = {
    userId: row.userId, turnKey: row.turnKey, model: row.model, amount, promptTokens: row.promptTokens, maxCompletion: row.maxCompletion,
    promptRate: row.promptRate, completionRate: row.completionRate, cachedRate: row.cachedRate, keyId: row.keyId, owner: row.owner, ruleGroup: row.ruleGroup,
    maxOpen: req.maxOpen ?? Number.MAX_SAFE_INTEGER, limited: req.limits ? 1 as const : 0 as const, now: (req.now ?? new Date()).toISOString(),
  };
  if (store.dialect === 'sqlite' && fromBuckets.has(req.userId)) {
    const took = await store.once('ledger.takeWholeBucket', params);
    return took && { status: 'held', hold: newHold(took.id, { ...row, parts: took.parts }), balance: took.total };
  }
  const took = await store.once('ledger.takeWhole', params);
  return took && { status: 'held', hold: newHold(took.id, row), balance: took.balance };
}

/**
 * Users whose last hold taken on this process came from an allowance bucket: their next reserve
 * tries the one-statement take from a bucket first instead of from own tokens (on SQLite). A hint
 * only: a wrong guess costs one statement that writes nothing, then reserveOp decides.
 */
const fromBuckets = new Set<number>();
function rememberSource(userId: number, hold: Hold): void {
  if (fromBuckets.size > 100_000) fromBuckets.clear();
  if (hold.parts) fromBuckets.add(userId);
  else fromBuckets.delete(userId);
}

function* duplicateOf(userId: number, turnKey: string): Op<ReserveResult | undefined> {
  const existing = yield* query('ledger.holdByKey', { userId, turnKey });
  return existing && { status: 'duplicate', hold: publicHold(existing), balance: yield* balanceOf(userId) };
}

/**
 * Sets aside what the turn may cost: the prompt plus as many completion tokens (up to
 * maxCompletion) as the balance pays for, in one conditional UPDATE. Refuses when not even the
 * prompt and one completion token are affordable. A repeated turn key returns the first hold.
 * `allowance`, when given, is read inside the reserve's transaction, so turns reserving at once
 * (several tabs, several processes) cannot pass a daily limit together. Under it, the completion
 * shrinks, and when not even one completion token fits, the answer is 'over_limit'.
 */
export async function reserve(store: Store, req: ReserveRequest): Promise<ReserveResult> {
  try {
    const whole = await reserveWhole(store, req);
    if (whole) return whole;
    const result = await store.write(reserveOp, req).catch((err: unknown) => {
      // Another process wrote the same refill at the same moment: this write was rolled back; once more sees it done.
      if (err instanceof RefillRace) return store.write(reserveOp, req);
      throw err;
    });
    if (result.status === 'held') {
      rememberSource(req.userId, result.hold);
      return result;
    }
    // Refused: a turn key used before is still answered with its first hold.
    return (await store.read(duplicateOf, req.userId, req.turnKey)) ?? result;
  } catch (err) {
    if (!(err instanceof DuplicateTurn)) throw err;
    const again = await store.read(duplicateOf, req.userId, req.turnKey);
    if (!again) throw new LedgerError(`turn key ${req.turnKey} is in use but its hold cannot be read`);
    return again;
  }
}

/** Records completion tokens streamed so far, so a crash mid-turn can still be charged for them. */
export async function recordDelivered(store: Store, holdId: number, completionTokens: number): Promise<void> {
  await store.write(function* () {
    yield* query('ledger.delivered', { id: holdId, tokens: completionTokens });
  });
}

/** How a hold closes: what it is charged, what goes back, and what is recorded on it. */
function closing(hold: HoldTerms, usage: Usage, kind: 'settle' | 'release') {
  const cachedTokens = Math.min(usage.cachedTokens ?? 0, usage.promptTokens);
  const wanted = kind === 'release' ? 0 : priceOf(hold, usage.promptTokens, usage.completionTokens, cachedTokens);
  // The hold is the most a turn may cost: it was sized to the balance and the spend limits, so a
  // provider reporting more than was held (a differing tokenizer, or a hostile upstream) is never
  // charged past it; the difference is recorded as uncollected, the operator's to see.
  const charge = Math.min(wanted, hold.amount);
  // One object literal, with the terms the one-statement closes check too (bucketId and partEnd
  // filled in for a bucket's): built by spreads, it became a dictionary on every close (storage/sqlite/store.ts).
  const record = {
    id: hold.id, state: kind === 'settle' ? 'settled' as const : 'released' as const, charge, promptTokens: usage.promptTokens,
    completionTokens: usage.completionTokens, uncollected: wanted - charge, source: usage.source, outcome: usage.outcome,
    latencyMs: usage.latencyMs ?? null, conversationId: usage.conversationId ?? null, messageId: usage.messageId ?? null,
    apiRequestId: usage.apiRequestId ?? null, cachedTokens, reasoningTokens: Math.min(usage.reasoningTokens ?? 0, usage.completionTokens),
    provider: usage.provider ?? null, upstreamModel: usage.upstreamModel ?? null,
    amount: hold.amount, promptRate: hold.promptRate, completionRate: hold.completionRate, cachedRate: hold.cachedRate, refund: hold.amount - charge, kind, note: kind === 'release' ? usage.outcome : null,
    parts: hold.parts ?? '', bucketId: 0, partEnd: '', now: (usage.now ?? new Date()).toISOString(),
  };
  return record;
}

function* closeHold(hold: HoldRow, usage: Usage, kind: 'settle' | 'release', now = new Date()): Op<SettleResult> {
  const record = closing(hold, usage, kind);
  let refund = record.refund;
  let ownPart = hold.amount;
  let bucket: number | null = null;
  if (hold.parts !== null) {
    // Allowance parts are spent first and given back to their buckets; own tokens pay the rest.
    // The balance row is locked before any bucket, in the order every reserve takes them (no deadlock).
    yield* query('ledger.lockBalance', { userId: hold.userId });
    const parts = JSON.parse(hold.parts) as Part[];
    const fromBuckets = parts.reduce((sum, p) => sum + p.n, 0);
    const ownDue = yield* returnParts(hold.userId, hold.id, parts, record.charge, kind, now);
    refund = hold.amount - fromBuckets - ownDue;
    ownPart = hold.amount - fromBuckets;
    bucket = openOnBucket(hold.amount, parts);
    if (bucket !== null) yield* query('ledger.openOnBucket', { id: bucket, delta: -1 });
  }
  const balance = yield* query('ledger.refund', { userId: hold.userId, amount: refund, open: bucket === null ? 1 : 0 });
  // A hold all from allowance has no own-token rows: nothing of own tokens was taken or given back.
  if (ownPart > 0) yield* query('ledger.row', { userId: hold.userId, kind, amount: refund, balanceAfter: balance, actorId: null, holdId: hold.id, codeId: null, note: record.note });
  yield* query('ledger.closeHold', record);
  return { charge: record.charge, uncollected: record.uncollected, balance };
}

/**
 * What is written with a close, in its transaction, given the charge: a chat turn's finished
 * message, so that the message says what the ledger charged and one commit holds both.
 */
export type AfterClose = (charge: number) => Op<void>;

/** Closes a hold still open, then writes `after`; answers what it charged and whose it was. */
function* closeOpenHold(holdId: number, usage: Usage, kind: 'settle' | 'release', after?: AfterClose): Op<[SettleResult, number]> {
  const hold = yield* query('ledger.holdById', { id: holdId });
  if (!hold) throw new LedgerError(`no hold ${holdId}`);
  if (hold.state !== 'held') throw new LedgerError(`hold ${holdId} is already ${hold.state}`);
  const result = yield* closeHold(hold, usage, kind, usage.now);
  if (after) yield* after(result.charge);
  return [result, hold.userId];
}

/** closeKnown or closeBucket, then `after` when it closed the hold. */
function* closeKnownThen(
  name: 'ledger.closeKnown' | 'ledger.closeBucket', record: ReturnType<typeof closing>, after: AfterClose,
): Op<{ userId: number; balance: number } | undefined> {
  const done = yield* query(name, record);
  if (done) yield* after(record.charge);
  return done;
}

/**
 * Closes a hold. Given its terms (the caller took it), the charge is worked out here and the
 * close is one statement, one round trip on PostgreSQL; when the hold is not held on those terms
 * (closed already, or not this hold), that statement writes nothing and the hold is read and
 * closed in a transaction, which says why it cannot be.
 */
async function closeAndTell(store: Store, hold: number | HoldTerms, usage: Usage, kind: 'settle' | 'release', after?: AfterClose): Promise<SettleResult> {
  let closed: [SettleResult, number] | undefined;
  // With `after`, the one statement is a transaction of two (on PostgreSQL the same round trips as
  // the statement and `after`'s own transaction were).
  const closeBy = (name: 'ledger.closeKnown' | 'ledger.closeBucket', record: ReturnType<typeof closing>) =>
    (after ? store.write(closeKnownThen, name, record, after) : store.once(name, record));
  if (typeof hold !== 'number') {
    const record = closing(hold, usage, kind);
    let done: { userId: number; balance: number } | undefined;
    if (!hold.parts) done = await closeBy('ledger.closeKnown', record);
    else if (store.dialect === 'sqlite') {
      // Taken whole from one bucket whose period is not over: given back to it in one statement too.
      const parts = JSON.parse(hold.parts) as Part[];
      if (openOnBucket(hold.amount, parts) !== null) {
        record.bucketId = parts[0]!.a;
        record.partEnd = parts[0]!.e;
        done = await closeBy('ledger.closeBucket', record);
      }
    }
    if (done) closed = [{ charge: record.charge, uncollected: record.uncollected, balance: done.balance }, done.userId];
  }
  const [result, userId] = closed ?? (await store.write(closeOpenHold, typeof hold === 'number' ? hold : hold.id, usage, kind, after));
  holdEvents.emit('closed', userId); // a turn of theirs waiting for the balance this freed
  return result;
}

/** Emits 'closed' with the user id when this process settles or releases one of their holds. */
export const holdEvents = new EventEmitter().setMaxListeners(0);

/** What the user's answers still running have set aside. */
export function* heldBy(userId: number): Op<number> {
  return yield* query('ledger.heldBy', { userId });
}

/**
 * Waits until one of the user's holds closes (in this process: at once; in another: the poll finds
 * it), `pollMs` passes, or `signal` aborts.
 */
export function holdClosed(userId: number, signal: AbortSignal, pollMs: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      holdEvents.off('closed', onClosed);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const onClosed = (id: number) => id === userId && done();
    const timer = setTimeout(done, pollMs);
    holdEvents.on('closed', onClosed);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Charges the turn for its real usage and gives back the rest of the hold (and writes `after` with it). */
export async function settle(store: Store, hold: number | HoldTerms, usage: Usage, after?: AfterClose): Promise<SettleResult> {
  for (const n of [usage.promptTokens, usage.completionTokens, usage.cachedTokens ?? 0, usage.reasoningTokens ?? 0]) {
    if (!Number.isSafeInteger(n) || n < 0) throw new LedgerError('token counts must be whole numbers >= 0');
  }
  return closeAndTell(store, hold, usage, 'settle', after);
}

/** Which provider a call went to last, and its name for the model (recorded on a released hold too). */
export interface ServedBy {
  provider: string;
  model: string;
}

/** The usage fields that record who served a call (none when no provider was tried). */
export const servedUsage = (by: ServedBy | undefined): Pick<Usage, 'provider' | 'upstreamModel'> => (by ? { provider: by.provider, upstreamModel: by.model } : {});

/** Gives the whole hold back: the turn failed before any output. */
export async function release(
  store: Store, hold: number | HoldTerms, reason: 'error' | 'recovered' = 'error', by?: ServedBy, after?: AfterClose,
): Promise<SettleResult> {
  const usage: Usage = { promptTokens: 0, completionTokens: 0, source: 'estimated', outcome: reason, ...servedUsage(by) };
  return closeAndTell(store, hold, usage, 'release', after);
}

/**
 * How long a settle that meets a database outage keeps trying. Its hold stays this process's
 * meanwhile (live, marked alive again once the database answers), so when the database is back
 * the turn is settled by its real usage, the provider's when it reported it, not by the stop rule.
 */
export const SETTLE_PATIENCE_MS = 10 * 60_000;

/**
 * A settle that fails for a passing reason is tried again: while the database is away (a dropped
 * connection, a refused one, a lock past the busy timeout) for up to SETTLE_PATIENCE_MS; any other
 * failure a few times. Left open, the hold would be recovered by the stop rule, without the
 * provider's usage. A LedgerError is an answer, not tried again.
 */
async function withRetries<T>(write: () => Promise<T>, patienceMs = SETTLE_PATIENCE_MS): Promise<T> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (err instanceof LedgerError) throw err;
      if (isDatabaseFault(err) ? Date.now() - started >= patienceMs : attempt >= 4) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 200 * 2 ** attempt)));
    }
  }
}

/**
 * Settles a turn, or, when its hold was already closed elsewhere (another process's recovery
 * sweep took a turn that outlived the window), returns what that close charged. `after` is written
 * in the settle's transaction; `afterWritten` says whether it was (not when the hold was closed
 * elsewhere: then the caller writes it, with the charge answered).
 */
export async function settleOrRead(
  store: Store, terms: HoldTerms, usage: Usage | 'release', by?: ServedBy, after?: AfterClose,
): Promise<SettleResult & { afterWritten: boolean }> {
  try {
    const result = await withRetries(() => (usage === 'release' ? release(store, terms, 'error', by, after) : settle(store, terms, usage, after)));
    return { ...result, afterWritten: after !== undefined };
  } catch (err) {
    const hold = await store.read(holdById, terms.id);
    if (!(err instanceof LedgerError) || !hold || hold.state === 'held') throw err;
    return { charge: hold.charge ?? 0, uncollected: 0, balance: await store.read(balanceOf, hold.userId), afterWritten: false };
  }
}

function* holdById(id: number): Op<HoldRow | undefined> {
  return yield* query('ledger.holdById', { id });
}

export function* findHold(userId: number, turnKey: string): Op<Hold | undefined> {
  const row = yield* query('ledger.holdByKey', { userId, turnKey });
  return row && publicHold(row);
}

/** How often a server marks the holds of its running turns alive; a third of the shortest recovery window. */
export const HEARTBEAT_MS = 20_000;

/** Marks the holds of turns this process is still running alive (see recoverHolds). */
export async function heartbeat(store: Store, live: ReadonlySet<number>): Promise<void> {
  if (live.size === 0) return;
  const ids = JSON.stringify([...live]);
  await store.write(function* () {
    yield* query('ledger.alive', { ids });
  });
}

function* recoverOne(id: number): Op<'settled' | 'released' | undefined> {
  const hold = yield* query('ledger.holdById', { id });
  if (!hold || hold.state !== 'held') return undefined; // another process got there first
  const usage: Usage = { promptTokens: hold.promptTokens, completionTokens: hold.delivered, source: 'estimated', outcome: 'recovered' };
  yield* closeHold(hold, usage, hold.delivered > 0 ? 'settle' : 'release');
  return hold.delivered > 0 ? 'settled' : 'released';
}

/** Resolves one hold by the stop rule at once: its process is known to be gone (owner.ts). */
export async function recoverHold(store: Store, id: number): Promise<'settled' | 'released' | undefined> {
  return store.write(recoverOne, id);
}

/**
 * Resolves holds not heard of for `olderThanMs` (created or marked alive by heartbeat), left by a
 * process that died mid-turn, by the stop rule: a turn that delivered output is charged its
 * prompt plus what it delivered; one that delivered nothing is released.
 */
export async function recoverHolds(store: Store, olderThanMs: number, live: ReadonlySet<number> = new Set()): Promise<{ settled: number; released: number }> {
  // `live`: holds of turns this process is still running (it may not have marked them alive yet).
  const ids = (await store.read(function* () {
    return yield* query('ledger.stale', { olderThanMs });
  })).filter((id) => !live.has(id));
  const result = { settled: 0, released: 0 };
  // One transaction per hold, so a long sweep never holds the write lock for long.
  for (const id of ids) {
    const done = await store.write(recoverOne, id);
    if (done) result[done]++;
  }
  return result;
}
