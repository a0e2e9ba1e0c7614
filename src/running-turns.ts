// The turns this process is streaming, by user, conversation and turn key: Stop (from any tab)
// aborts them, and so does disabling the user.
export class RunningTurns {
  private readonly turns = new Set<{ userId: number; conversationId: number; turnKey: string; controller: AbortController }>();

  /** Registers a turn; call the returned function when it has ended. */
  add(userId: number, conversationId: number, turnKey: string, controller: AbortController): () => void {
    const entry = { userId, conversationId, turnKey, controller };
    this.turns.add(entry);
    return () => this.turns.delete(entry);
  }

  /** Stops the user's turns in the conversation, or the one turn with that key (a new chat's first). */
  stop(userId: number, which: { conversationId?: number; turnKey?: string }): void {
    for (const turn of this.turns) {
      if (turn.userId === userId && (turn.conversationId === which.conversationId || turn.turnKey === which.turnKey)) turn.controller.abort();
    }
  }

  /** Whether another turn (not `turnKey`) of the user is running in the conversation. */
  answering(userId: number, conversationId: number, turnKey: string): boolean {
    for (const turn of this.turns) if (turn.userId === userId && turn.conversationId === conversationId && turn.turnKey !== turnKey) return true;
    return false;
  }

  /** Whether any turn of the user is running or waiting for the model in the conversation. */
  busy(userId: number, conversationId: number): boolean {
    for (const turn of this.turns) if (turn.userId === userId && turn.conversationId === conversationId) return true;
    return false;
  }

  /** Stops every turn of the user (they were disabled): each is charged as a Stop is. */
  stopAll(userId: number): void {
    for (const turn of this.turns) if (turn.userId === userId) turn.controller.abort();
  }
}
