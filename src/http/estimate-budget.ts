// What one user's prompt estimates may make this process count. An estimate is free to the user
// but costs a count of the prompt, and a call of 100,000 characters costs a thousand times one of
// a hundred: so beside the calls a minute (ESTIMATE_RATE_LIMIT_PER_USER), each user has a budget
// of characters a minute (ESTIMATE_CHARS_PER_MINUTE), and one estimate counted at a time (the page
// sends them one after another; only a script sends them together). In memory, like the calls
// limit: it guards this process's CPU, not a shared resource.

const WINDOW_MS = 60_000;

interface Window {
  used: number;
  resetAt: number;
  counting: boolean;
}

export class EstimateBudget {
  private readonly users = new Map<number, Window>();
  private pruneAt = 0;

  constructor(
    private readonly charsPerMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Takes `chars` from the user's minute: a function to call once they are counted, or undefined
   * when they do not fit in what is left or another estimate of the user's is being counted.
   * A refused estimate takes nothing.
   */
  take(userId: number, chars: number): (() => void) | undefined {
    const now = this.now();
    this.prune(now);
    let window = this.users.get(userId);
    if (!window) this.users.set(userId, (window = { used: 0, resetAt: now + WINDOW_MS, counting: false }));
    if (window.resetAt <= now) Object.assign(window, { used: 0, resetAt: now + WINDOW_MS });
    if (window.counting || window.used + chars > this.charsPerMinute) return undefined;
    window.used += chars;
    window.counting = true;
    return () => {
      window.counting = false;
    };
  }

  /** Once a minute, forgets the users whose minute has ended. */
  private prune(now: number): void {
    if (now < this.pruneAt) return;
    this.pruneAt = now + WINDOW_MS;
    for (const [id, window] of this.users) if (window.resetAt <= now && !window.counting) this.users.delete(id);
  }
}
