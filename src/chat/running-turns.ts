// The model calls this process is running: the page's turns, by user, conversation and turn key,
// and /v1 calls, by user and key. Stop (from any tab) aborts a turn; disabling the user aborts all
// of theirs, and revoking a key its calls. Shutdown waits for them, then aborts the rest and waits
// for those to settle before the database closes. Each abort says why (StopReason), so a /v1
// client is told whether its key was revoked, its account disabled or the server is stopping.
import type { Signal, Signals } from '../storage/signals';

/** Why a running call was aborted from here (a /v1 client that goes away aborts with 'gone'). */
export type StopReason = 'stopped' | 'disabled' | 'revoked' | 'shutdown';

type Turn = { userId: number; conversationId: number; turnKey: string; keyId?: number; controller: AbortController };

export class RunningTurns {
  private readonly turns = new Set<Turn>();
  private waiting: (() => void)[] = [];
  /** Set by abortAll: what registers after it (a call that passed its checks meanwhile) is stopped at once. */
  private stopping = false;

  /** `signals` carries Stop, disabling and revoking to the other server processes, and theirs here. */
  constructor(private readonly signals?: Signals) {
    signals?.subscribe((signal) => this.apply(signal));
  }

  /** Applies a signal to this process's calls (also what the revocation watch finds in the database). */
  apply(signal: Signal): void {
    const [which, reason]: [(t: Turn) => boolean, StopReason] =
      signal.kind === 'stop_all' ? [() => true, 'disabled']
      : signal.kind === 'revoke_key' ? [(t) => t.keyId === signal.keyId, 'revoked']
      : [(t) => t.keyId === undefined && (t.conversationId === signal.conversationId || t.turnKey === signal.turnKey), 'stopped'];
    for (const turn of this.of(signal.userId, which)) turn.controller.abort(reason);
  }

  private send(signal: Signal): void {
    if (this.signals) this.signals.publish(signal);
    else this.apply(signal);
  }

  /** Registers a turn; call the returned function when it has ended (settled, nothing more to write). */
  add(userId: number, conversationId: number, turnKey: string, controller: AbortController): () => void {
    return this.register({ userId, conversationId, turnKey, controller });
  }

  /** Registers a /v1 call made with a key; call the returned function when it has settled. */
  addCall(userId: number, keyId: number, controller: AbortController): () => void {
    return this.register({ userId, conversationId: 0, turnKey: '', keyId, controller });
  }

  private register(entry: Turn): () => void {
    this.turns.add(entry);
    if (this.stopping) entry.controller.abort('shutdown' satisfies StopReason);
    return () => {
      this.turns.delete(entry);
      if (this.turns.size === 0) for (const resolve of this.waiting.splice(0)) resolve();
    };
  }

  /** How many turns and calls are running. */
  get size(): number {
    return this.turns.size;
  }

  /** The users and the keys of what runs now (for the revocation watch). */
  get users(): number[] {
    return [...new Set([...this.turns].map((t) => t.userId))];
  }

  get keys(): number[] {
    return [...new Set([...this.turns].flatMap((t) => (t.keyId === undefined ? [] : [t.keyId])))];
  }

  /** Resolves once no turn is running (at once if none is). */
  idle(): Promise<void> {
    if (this.turns.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Stops every turn and call of every user (shutdown): each is charged as a Stop is. */
  abortAll(): void {
    this.stopping = true;
    for (const turn of this.turns) turn.controller.abort('shutdown' satisfies StopReason);
  }

  /** The user's turns that `match`. */
  private of(userId: number, match: (turn: Turn) => boolean = () => true): Turn[] {
    return [...this.turns].filter((turn) => turn.userId === userId && match(turn));
  }

  /** Stops the user's turns in the conversation, or the one turn with that key (a new chat's first). */
  stop(userId: number, which: { conversationId?: number; turnKey?: string }): void {
    this.send({ kind: 'stop', userId, ...which });
  }

  /** Whether another turn (not `turnKey`) of the user is running in the conversation. */
  answering(userId: number, conversationId: number, turnKey: string): boolean {
    return this.of(userId, (t) => t.keyId === undefined && t.conversationId === conversationId && t.turnKey !== turnKey).length > 0;
  }

  /** Whether any turn of the user is running or waiting for the model in the conversation. */
  busy(userId: number, conversationId: number): boolean {
    return this.of(userId, (t) => t.keyId === undefined && t.conversationId === conversationId).length > 0;
  }

  /** Stops every turn and call of the user (they were disabled): each is charged as a Stop is. */
  stopAll(userId: number): void {
    this.send({ kind: 'stop_all', userId });
  }

  /** Stops the /v1 calls made with a key that was revoked, in every process. */
  revokeKey(userId: number, keyId: number): void {
    this.send({ kind: 'revoke_key', userId, keyId });
  }
}
