// Signals between server processes: Stop pressed on one process must abort the answer another is
// streaming, and so must disabling a user. On PostgreSQL they travel by LISTEN/NOTIFY on a channel
// of the schema's own (so two deployments, or two test files, on one database never hear each
// other); on SQLite, whose processes share one machine's file, within this process only.
import crypto from 'node:crypto';
import pg from 'pg';
import type { AppStore } from './index';

export type Signal =
  | { kind: 'stop'; userId: number; conversationId?: number; turnKey?: string }
  | { kind: 'stop_all'; userId: number }
  /** An API key was revoked: its /v1 calls running anywhere stop. */
  | { kind: 'revoke_key'; userId: number; keyId: number };

export interface Signals {
  /** Delivers to this process at once, and to the others as soon as the database passes it on. */
  publish(signal: Signal): void;
  subscribe(handler: (signal: Signal) => void): void;
  close(): Promise<void>;
}

class LocalSignals implements Signals {
  protected readonly handlers: Array<(signal: Signal) => void> = [];
  publish(signal: Signal): void {
    for (const handler of this.handlers) handler(signal);
  }
  subscribe(handler: (signal: Signal) => void): void {
    this.handlers.push(handler);
  }
  async close(): Promise<void> {}
}

/** A well-formed signal from the channel, or undefined: anything else on it is ignored. */
function parse(text: string): { from: string; signal: Signal } | undefined {
  try {
    const m = JSON.parse(text) as { from?: unknown; signal?: Signal };
    const s = m.signal;
    if (typeof m.from !== 'string' || !s || !Number.isSafeInteger(s.userId)) return undefined;
    if (s.kind === 'stop_all') return { from: m.from, signal: { kind: 'stop_all', userId: s.userId } };
    if (s.kind === 'revoke_key') return Number.isSafeInteger(s.keyId) ? { from: m.from, signal: { kind: 'revoke_key', userId: s.userId, keyId: s.keyId } } : undefined;
    if (s.kind !== 'stop') return undefined;
    const conversationId = Number.isSafeInteger(s.conversationId) ? s.conversationId : undefined;
    const turnKey = typeof s.turnKey === 'string' ? s.turnKey : undefined;
    return { from: m.from, signal: { kind: 'stop', userId: s.userId, conversationId, turnKey } };
  } catch {
    return undefined;
  }
}

class PostgresSignals extends LocalSignals {
  private readonly me = crypto.randomUUID();
  private listener: pg.Client | undefined;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly pool: pg.Pool,
    private readonly channel: string,
    private readonly onError: (err: unknown) => void,
  ) {
    super();
  }

  /**
   * Listens on a connection of its own. A lost connection, or one that cannot be opened, is tried
   * again every second for as long as the process runs: without it, Stop pressed on another host
   * would not reach the answers streaming here.
   */
  async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url });
    let lost = false;
    const retry = (err: unknown) => {
      if (lost) return;
      lost = true;
      this.onError(err);
      if (this.listener === client) this.listener = undefined;
      void client.end().catch(() => {});
      if (!this.closed) setTimeout(() => void this.listen().catch(() => {}), 1000).unref();
    };
    client.on('notification', (n) => {
      const got = n.channel === this.channel && n.payload ? parse(n.payload) : undefined;
      if (got && got.from !== this.me) super.publish(got.signal);
    });
    client.on('error', retry);
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
    } catch (err) {
      retry(err);
      throw err;
    }
    if (this.closed) return void (await client.end());
    this.listener = client;
  }

  override publish(signal: Signal): void {
    super.publish(signal);
    const payload = JSON.stringify({ from: this.me, signal });
    this.pool.query('SELECT pg_notify($1, $2)', [this.channel, payload]).catch(this.onError);
  }

  override async close(): Promise<void> {
    this.closed = true;
    await this.listener?.end().catch(() => {});
  }
}

/**
 * Sends one signal to the server processes from a process that does not serve (the command
 * line), and waits until the database has it. On SQLite there is no channel between processes:
 * false, and the servers learn of it at the user's next request.
 */
export async function sendSignal(store: AppStore, signal: Signal): Promise<boolean> {
  if (store.dialect === 'sqlite') return false;
  const payload = JSON.stringify({ from: crypto.randomUUID(), signal });
  await store.pool.query('SELECT pg_notify($1, $2)', [channelOf(store), payload]);
  return true;
}

const channelOf = (store: { schema?: string }) => `tokenchat_${store.schema ?? 'public'}`;

export async function openSignals(store: AppStore, url: string | undefined, onError: (err: unknown) => void): Promise<Signals> {
  if (store.dialect === 'sqlite' || !url) return new LocalSignals();
  const signals = new PostgresSignals(url, store.pool, channelOf(store), onError);
  try {
    await signals.listen();
  } catch (err) {
    await signals.close(); // no retries left running behind a start-up that failed
    throw err;
  }
  return signals;
}
