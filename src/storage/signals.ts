// Signals between server processes: Stop pressed on one process must abort the answer another is
// streaming, and so must disabling a user. On PostgreSQL they travel by LISTEN/NOTIFY on a channel
// of the schema's own (so two deployments, or two test files, on one database never hear each
// other); on SQLite, whose processes share one machine's file, within this process only.
import crypto from 'node:crypto';
import type { AppStore } from './index';
import type { SignalChannel } from './postgres/signal-channel';
import { postgresSignals } from './postgres-modules';
import type { PostgresStore } from './postgres/store';

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

/** Signals through PostgreSQL (postgres/signal-channel.ts: reconnects, and reads back what it missed). */
class PostgresSignals extends LocalSignals {
  private readonly me = crypto.randomUUID();
  private readonly channel: SignalChannel;

  constructor(store: PostgresStore, channel: string, onError: (err: unknown) => void) {
    super();
    this.channel = new (postgresSignals().SignalChannel)(store, channel, (text) => {
      const got = parse(text);
      if (got && got.from !== this.me) super.publish(got.signal);
    }, onError);
  }

  /**
   * Listens on a connection of its own. A lost connection, or one that cannot be opened, is tried
   * again for as long as the process runs: without it, Stop pressed on another host would not
   * reach the answers streaming here.
   */
  listen(): Promise<void> {
    return this.channel.listen();
  }

  override publish(signal: Signal): void {
    super.publish(signal);
    void this.channel.send(JSON.stringify({ from: this.me, signal }));
  }

  override async close(): Promise<void> {
    await this.channel.close();
  }
}

/**
 * Sends one signal to the server processes from a process that does not serve (the command
 * line), and waits until the database has it. On SQLite there is no channel between processes:
 * false, and the servers learn of it at the user's next request.
 */
export async function sendSignal(store: AppStore, signal: Signal): Promise<boolean> {
  if (store.dialect === 'sqlite') return false;
  await postgresSignals().sendOnce(store, channelOf(store), JSON.stringify({ from: crypto.randomUUID(), signal }));
  return true;
}

const channelOf = (store: { schema?: string }) => `tokenchat_${store.schema ?? 'public'}`;

export async function openSignals(store: AppStore, url: string | undefined, onError: (err: unknown) => void): Promise<Signals> {
  if (store.dialect === 'sqlite' || !url) return new LocalSignals();
  const signals = new PostgresSignals(store, channelOf(store), onError);
  try {
    await signals.listen();
  } catch (err) {
    await signals.close(); // no retries left running behind a start-up that failed
    throw err;
  }
  return signals;
}
