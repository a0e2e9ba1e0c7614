// Concurrency control for chat turns, after Gradio's queue.
//
// Two limits. Per user: at most `perUser` turns at once, running and waiting counted together; a
// turn beyond that is refused at once ('per_user'), not queued, so one user's many tabs cannot
// fill the queue. Server-wide: at most `global` upstream calls at once; turns beyond that wait,
// at most `maxWaiting` of them in all, and any more are refused at once ('queue_full').
//
// Fairness rule (round-robin across users, FIFO within a user): the users who have turns waiting
// form a ring, in the order they started waiting. Each freed slot goes to the oldest waiting turn
// of the user at the head of the ring; that user then moves to the tail if they still have turns
// waiting, else leaves the ring. So turns are served in rounds, one per user per round: a user
// with three waiting turns cannot starve someone else's single turn, which waits at most one
// round. A user who starts waiting joins the tail, i.e. the current round.
//
// A waiting turn's position is its 1-based place in that serving order as it stands now. It falls
// by one with every admission and every abort ahead of it; it can rise by one when a newcomer
// joins the current round ahead of a user's later turns. Callbacks hear only actual changes.
//
// Cost: admission, release and abort touch the ring (O(users)); position updates are
// O(users + waiting), and waiting <= maxWaiting. No timers, no polling.

export interface QueueLimits {
  perUser: number;
  global: number;
  maxWaiting: number;
}

export type AdmitResult =
  | { ok: true; release: () => void }
  | { ok: false; reason: 'per_user' | 'queue_full' | 'aborted' };

interface Waiter {
  readonly user: UserTurns;
  readonly signal: AbortSignal;
  readonly onPosition?: (position: number) => void;
  readonly resolve: (result: AdmitResult) => void;
  readonly onAbort: () => void;
  position: number; // last position reported; 0 before the first report
}

interface UserTurns {
  readonly id: number;
  running: number;
  readonly waiting: Waiter[]; // oldest first
}

export class TurnQueue {
  private readonly users = new Map<number, UserTurns>();
  private readonly ring: UserTurns[] = []; // users with waiting turns; head is served next
  private running = 0;
  private waitingCount = 0;
  private epoch = 0; // bumped by every position broadcast, so a nested one supersedes an outer one

  /**
   * `onCallbackError` hears errors thrown by onPosition callbacks (e.g. a logger); they are
   * otherwise dropped, because a broken progress display must not stall everyone's queue.
   */
  constructor(
    private readonly limits: QueueLimits,
    private readonly onCallbackError: (error: unknown) => void = () => {},
  ) {
    for (const key of ['perUser', 'global'] as const) {
      if (!Number.isSafeInteger(limits[key]) || limits[key] < 1) {
        throw new RangeError(`TurnQueue: ${key} must be a positive integer, got ${limits[key]}`);
      }
    }
    if (!Number.isSafeInteger(limits.maxWaiting) || limits.maxWaiting < 0) {
      throw new RangeError(`TurnQueue: maxWaiting must be a non-negative integer, got ${limits.maxWaiting}`);
    }
  }

  /** Resolves when the turn may call the upstream. onPosition(n) is called with n >= 1 while waiting (first call before waiting begins), never after admission. */
  admit(userId: number, opts: { signal: AbortSignal; onPosition?: (position: number) => void; perUser?: number }): Promise<AdmitResult> {
    if (opts.signal.aborted) return Promise.resolve({ ok: false, reason: 'aborted' });
    const user = this.users.get(userId) ?? { id: userId, running: 0, waiting: [] };
    // `perUser`: a caller's own cap (API calls have theirs); the user's turns and calls count together.
    if (user.running + user.waiting.length >= (opts.perUser ?? this.limits.perUser)) {
      return Promise.resolve({ ok: false, reason: 'per_user' });
    }
    this.users.set(userId, user);
    // Waiters exist only while every slot is taken (dispatch keeps it so), so a free slot
    // means nobody is ahead of this turn.
    if (this.running < this.limits.global) {
      return Promise.resolve({ ok: true, release: this.startTurn(user) });
    }
    if (this.waitingCount >= this.limits.maxWaiting) {
      this.forgetIfIdle(user);
      return Promise.resolve({ ok: false, reason: 'queue_full' });
    }
    return new Promise<AdmitResult>((resolve) => {
      const waiter: Waiter = {
        user,
        signal: opts.signal,
        onPosition: opts.onPosition,
        resolve,
        onAbort: () => this.abandon(waiter),
        position: 0,
      };
      if (user.waiting.push(waiter) === 1) this.ring.push(user);
      this.waitingCount++;
      opts.signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.broadcastPositions();
    });
  }

  stats(): { running: number; waiting: number; users: number } {
    return { running: this.running, waiting: this.waitingCount, users: this.users.size };
  }

  /** Takes a slot for `user` and returns its release, which frees the slot once however often it is called. */
  private startTurn(user: UserTurns): () => void {
    this.running++;
    user.running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      user.running--;
      this.forgetIfIdle(user);
      this.dispatch();
    };
  }

  /** Hands free slots to waiting turns in ring order, then tells the rest their new places. */
  private dispatch(): void {
    let admitted = false;
    while (this.running < this.limits.global && this.ring.length > 0) {
      const user = this.ring.shift()!;
      const waiter = user.waiting.shift()!;
      if (user.waiting.length > 0) this.ring.push(user);
      this.waitingCount--;
      waiter.signal.removeEventListener('abort', waiter.onAbort);
      waiter.resolve({ ok: true, release: this.startTurn(user) });
      admitted = true;
    }
    if (admitted) this.broadcastPositions();
  }

  /** A waiting turn's signal fired: it leaves the queue now and the turns behind it move up. */
  private abandon(waiter: Waiter): void {
    const { user } = waiter;
    const index = user.waiting.indexOf(waiter);
    if (index < 0) return; // already admitted
    user.waiting.splice(index, 1);
    this.waitingCount--;
    if (user.waiting.length === 0) this.ring.splice(this.ring.indexOf(user), 1);
    this.forgetIfIdle(user);
    waiter.resolve({ ok: false, reason: 'aborted' });
    this.broadcastPositions();
  }

  private forgetIfIdle(user: UserTurns): void {
    if (user.running === 0 && user.waiting.length === 0) this.users.delete(user.id);
  }

  /** The waiting turns in the order they will be served: round by round, ring order within a round. */
  private servingOrder(): Waiter[] {
    const order: Waiter[] = [];
    let inRound = this.ring;
    for (let round = 0; inRound.length > 0; round++) {
      for (const user of inRound) order.push(user.waiting[round]);
      inRound = inRound.filter((user) => user.waiting.length > round + 1);
    }
    return order;
  }

  /**
   * Reports changed positions. State is final before any callback runs; a callback that admits,
   * releases or aborts starts a fresh broadcast, after which this one's positions are stale.
   */
  private broadcastPositions(): void {
    const epoch = ++this.epoch;
    const order = this.servingOrder();
    for (let i = 0; i < order.length && epoch === this.epoch; i++) {
      const waiter = order[i];
      if (waiter.position === i + 1) continue;
      waiter.position = i + 1;
      if (!waiter.onPosition) continue;
      try {
        waiter.onPosition(i + 1);
      } catch (error) {
        this.onCallbackError(error);
      }
    }
  }
}
