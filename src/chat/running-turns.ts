// The turns this process is streaming, by user, conversation and turn key: Stop (from any tab)
// aborts them, and so does disabling the user. Shutdown waits for them, then aborts the rest and
// waits for those to settle before the database closes.
import type { Signal, Signals } from '../storage/signals';

type Turn = { userId: number; conversationId: number; turnKey: string; controller: AbortController };

export class RunningTurns {
  private readonly turns = new Set<Turn>();
  private waiting: (() => void)[] = [];

  /** `signals` carries Stop and disabling to the other server processes, and theirs here. */
  constructor(private readonly signals?: Signals) {
    signals?.subscribe((signal) => this.apply(signal));
  }

  private apply(signal: Signal): void {
    const which = signal.kind === 'stop_all' ? () => true : (t: Turn) => t.conversationId === signal.conversationId || t.turnKey === signal.turnKey;
    for (const turn of this.of(signal.userId, which)) turn.controller.abort();
  }

  private send(signal: Signal): void {
    if (this.signals) this.signals.publish(signal);
    else this.apply(signal);
  }

  /** Registers a turn; call the returned function when it has ended (settled, nothing more to write). */
  add(userId: number, conversationId: number, turnKey: string, controller: AbortController): () => void {
    const entry = { userId, conversationId, turnKey, controller };
    this.turns.add(entry);
    return () => {
      this.turns.delete(entry);
      if (this.turns.size === 0) for (const resolve of this.waiting.splice(0)) resolve();
    };
  }

  /** How many turns are running. */
  get size(): number {
    return this.turns.size;
  }

  /** Resolves once no turn is running (at once if none is). */
  idle(): Promise<void> {
    if (this.turns.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Stops every turn of every user (shutdown): each is charged as a Stop is. */
  abortAll(): void {
    for (const turn of this.turns) turn.controller.abort();
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
    return this.of(userId, (t) => t.conversationId === conversationId && t.turnKey !== turnKey).length > 0;
  }

  /** Whether any turn of the user is running or waiting for the model in the conversation. */
  busy(userId: number, conversationId: number): boolean {
    return this.of(userId, (t) => t.conversationId === conversationId).length > 0;
  }

  /** Stops every turn of the user (they were disabled): each is charged as a Stop is. */
  stopAll(userId: number): void {
    this.send({ kind: 'stop_all', userId });
  }
}
