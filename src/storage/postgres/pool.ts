// The connections of the PostgreSQL store: the settings each opens with (timeouts, keepalive, the
// schema) and a pool that refuses at once while the database is known to be away.
import pg from 'pg';
import { isDatabaseFault } from '../faults';
import type { Availability } from './availability';

/** Bounds on waiting for the database (DATABASE_*_TIMEOUT_MS); unset: node-postgres's, which wait for ever. */
export interface PostgresTimeouts {
  /** Opening a connection, and waiting for a free one in the pool. */
  connectMs?: number;
  /**
   * The longest one statement may run (statement_timeout). A statement with no answer at all
   * QUERY_GRACE_MS past it is given up on the client (query_timeout) and its connection closed:
   * the server would have cancelled it by then, so the network is what failed.
   */
  statementMs?: number;
  /** A transaction left idle this long is ended by the server, releasing its row locks (idle_in_transaction_session_timeout). */
  idleTransactionMs?: number;
}

/** How long past statement_timeout a statement may go unanswered before its connection is given up. */
const QUERY_GRACE_MS = 2000;
/** TCP keepalive from this idle time on, so a peer that vanished (a host gone, a NAT that forgot) is noticed. */
const KEEPALIVE_MS = 10_000;

/** The settings every connection of the store opens with. */
export function clientConfig(url: string, schema: string | undefined, t: PostgresTimeouts): pg.ClientConfig {
  return {
    connectionString: url,
    application_name: 'tokenchat',
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_MS,
    // The schema is every connection's search_path from its first statement (a startup option).
    ...(schema && { options: `-c search_path=${schema}` }),
    ...(t.connectMs && { connectionTimeoutMillis: t.connectMs }),
    ...(t.statementMs && { statement_timeout: t.statementMs, query_timeout: t.statementMs + QUERY_GRACE_MS }),
    ...(t.idleTransactionMs && { idle_in_transaction_session_timeout: t.idleTransactionMs }),
  };
}

/** Closes a connection's socket at once: its queries fail now rather than when the network says so. */
export function cut(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

/**
 * A pool that refuses at once while the database is known to be away, and has a failed connect
 * looked into. Everything that uses the pool goes through connect(): the store, pool.query (the
 * sessions' store, signals), so none of them waits out a connection timeout during an outage.
 */
export class GuardedPool extends pg.Pool {
  constructor(config: pg.PoolConfig, private readonly availability: Availability) {
    super(config);
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | void {
    const refused = this.availability.refusal;
    if (refused) {
      if (!callback) return Promise.reject(refused);
      return void process.nextTick(callback, refused, undefined, () => {});
    }
    const failed = (err: unknown) => isDatabaseFault(err) && this.availability.suspect();
    if (!callback) return super.connect().catch((err: unknown) => (failed(err), Promise.reject(err)));
    super.connect((err, client, done) => {
      if (err) failed(err);
      callback(err, client, done);
    });
  }
}
