// The PostgreSQL side of the signals between server processes (storage/signals.ts): a listening
// connection of its own that survives the database going away, and sends that survive it too.
// - A lost listening connection (reset, refused, or stalled: a SELECT 1 every LIVENESS_MS must
//   answer) is opened again with a backoff, for as long as the process runs.
// - Each signal is kept a few minutes in the signals table (migration 024) as well as announced, so
//   on listening again the ones sent meanwhile are read back and delivered: Stop pressed on another
//   host during a blip still ends the answer here. (One sent while away may thus reach a turn of
//   the same conversation started meanwhile: it is stopped and charged for what it delivered.)
// - A send that fails while the database is away is tried again every second for SEND_TRY_MS.
import type pg from 'pg';
import { isDatabaseFault } from '../faults';
import { cut, type PostgresStore } from './store';
import { SIGNALS_SQL } from './sql/signals';

const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 5000;
/** How often the listening connection is asked a SELECT 1, and how long it has to answer. */
const LIVENESS_MS = 10_000;
const LIVENESS_TIMEOUT_MS = 3000;
/** How long a signal is tried again while the database is away: a Stop matters while its answer runs. */
const SEND_TRY_MS = 30_000;
/** Ids of signals delivered, kept to deliver each once (a notification and a read-back can overlap). */
const REMEMBERED = 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());

export class SignalChannel {
  private listener: pg.Client | undefined;
  private closed = false;
  private retryMs = RETRY_FIRST_MS;
  /** The newest signal's id when listening started, or delivered since: those after it are read back on listening again. */
  private lastId: number | undefined;
  private readonly delivered = new Set<number>();

  constructor(
    private readonly store: PostgresStore,
    private readonly channel: string,
    /** A signal's JSON, as sent. */
    private readonly hear: (payload: string) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Listens; rejects when the first try fails (tries go on in the background all the same). */
  async listen(): Promise<void> {
    if (this.closed) return;
    let client: pg.Client | undefined;
    let liveness: NodeJS.Timeout | undefined;
    let lost = false;
    const retry = (err: unknown) => {
      if (lost) return;
      lost = true;
      clearInterval(liveness);
      if (this.listener === client) this.listener = undefined;
      if (client) cut(client); // a stalled connection would never finish ending
      if (this.closed) return;
      this.onError(err);
      setTimeout(() => void this.listen().catch(() => {}), this.retryMs).unref();
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    };
    try {
      client = await this.store.connectClient({ onError: retry });
      const c = client;
      c.on('notification', (n) => n.channel === this.channel && n.payload && this.notified(n.payload));
      c.on('end', () => retry(new Error('the listening connection ended')));
      await c.query(`LISTEN "${this.channel}"`);
      await this.catchUp(c); // after LISTEN: what is sent from now on is heard, what came before is read
      if (this.closed) return void (await c.end());
      this.listener = c;
      this.retryMs = RETRY_FIRST_MS;
      liveness = setInterval(() => void this.check(c).catch(retry), LIVENESS_MS).unref();
    } catch (err) {
      retry(err);
      throw err;
    }
  }

  /** A stalled connection stays open and says nothing: it must answer a SELECT 1 in time. */
  private async check(client: pg.Client): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the listening connection did not answer within ${LIVENESS_TIMEOUT_MS} ms`)), LIVENESS_TIMEOUT_MS);
    });
    try {
      await Promise.race([client.query('SELECT 1'), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async catchUp(client: pg.Client): Promise<void> {
    if (this.lastId === undefined) {
      this.lastId = Number((await client.query<{ id: string | number }>(SIGNALS_SQL.newest)).rows[0]!.id);
      return;
    }
    const missed = await client.query<{ id: number; payload: string }>(SIGNALS_SQL.since, [this.lastId]);
    for (const { id, payload } of missed.rows) this.deliver(Number(id), payload);
  }

  private notified(text: string): void {
    let id: unknown;
    try {
      id = (JSON.parse(text) as { id?: unknown }).id;
    } catch {
      return;
    }
    // Without an id: from a process of an earlier version, which keeps no log.
    if (Number.isSafeInteger(id)) this.deliver(id as number, text);
    else this.hear(text);
  }

  private deliver(id: number, payload: string): void {
    if (this.delivered.has(id)) return;
    this.delivered.add(id);
    if (this.delivered.size > REMEMBERED) this.delivered.delete(this.delivered.values().next().value!);
    this.lastId = Math.max(this.lastId ?? 0, id);
    this.hear(payload);
  }

  /** Keeps and announces a signal; while the database is away, tries again every second for SEND_TRY_MS. */
  async send(payload: string): Promise<void> {
    for (const started = Date.now(); ; await sleep(1000)) {
      try {
        await this.store.pool.query(SIGNALS_SQL.send, [this.channel, payload]);
        return;
      } catch (err) {
        if (this.closed) return;
        if (!isDatabaseFault(err) || Date.now() - started > SEND_TRY_MS) return this.onError(err);
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.listener?.end().catch(() => {});
  }
}

/** Sends one signal and waits until the database has it (the command line). */
export async function sendOnce(store: PostgresStore, channel: string, payload: string): Promise<void> {
  await store.pool.query(SIGNALS_SQL.send, [channel, payload]);
}
