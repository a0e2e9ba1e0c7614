// Which errors mean "the database is away for now" (connection refused, reset or timed out; the
// server shutting down or starting; a statement cut by its timeout; SQLite's lock held past the
// busy timeout) as opposed to a bug or a refused write. Those are answered 503 with Retry-After
// (pages) or OpenAI's server_error with x-should-retry (/v1): the request can simply be sent again.

/** The store refused at once: a probe found the database away, and it is tried again every second. */
export class DatabaseUnavailable extends Error {
  constructor(message = 'the database is unavailable', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabaseUnavailable';
  }
}

/** Socket errors: the server is not there or the path to it broke. */
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/**
 * PostgreSQL SQLSTATEs: class 08 (connection exception), 57P01-57P03 (shut down by an admin or a
 * crash, cannot connect now: starting or in recovery), 53300 (too many connections), 57014 (a
 * statement cut by statement_timeout), 25P03 (idle_in_transaction_session_timeout).
 */
const PG_UNAVAILABLE = /^(08...|57P0[123]|53300|57014|25P03)$/;

/** node-postgres's own messages for a connection that died or never answered (they carry no code). */
const PG_LOST = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Query read timeout',
  'Client has encountered a connection error and is not queryable',
  'Connection terminated due to connection timeout',
];

/** SQLite's lock held by another connection past the busy timeout. */
const SQLITE_UNAVAILABLE = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED']);

/** Whether `err` (or what caused it) says the database is away or overloaded for now. */
export function isDatabaseFault(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof DatabaseUnavailable) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (NETWORK.has(code) || PG_UNAVAILABLE.test(code) || SQLITE_UNAVAILABLE.has(code))) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && PG_LOST.some((m) => message.startsWith(m))) return true;
  }
  return false;
}

/**
 * Whether `err` came from the connection rather than from the server's answer to a statement (no
 * SQLSTATE): the connection is not to be used again, and the database may be away.
 */
export function isConnectionFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  // SQLSTATE classes are digits and letters, none starting with E (EPIPE is a socket's).
  return !(typeof code === 'string' && /^[0-9A-DF-Z][0-9A-Z]{4}$/.test(code));
}
