// Shutdown's timeline, so that a process told to stop (SIGTERM from Kubernetes, systemd, docker)
// is gone by a time it can know: requests and answers in flight may finish until the drain
// deadline (SHUTDOWN_TIMEOUT_MS); then every page answer and /v1 call still running is stopped,
// charged as a Stop is, and given a grace to settle; then the connections left are cut. Nothing
// here waits on a connection past the deadline: a /v1 stream kept its connection, and with it
// the server's close, open for as long as the model went on writing.
import type http from 'node:http';
import { apiCallsIdle } from './api/in-flight';
import { HIDDEN_USAGE_WAIT_MS } from './chat/turn';
import type { RunningTurns } from './chat/running-turns';
import type { Logger } from './log';

/**
 * How long stopped answers get to settle after the drain deadline; past it recovery closes their
 * holds. A stopped answer of a model with hidden tokens is read on for its usage for up to
 * HIDDEN_USAGE_WAIT_MS, and is waited for: settling it without that usage would not bill the
 * reasoning the provider bills. Any other settles in milliseconds.
 */
export const SETTLE_GRACE_MS = HIDDEN_USAGE_WAIT_MS + 5000;

/** Once the answers are stopped and settled, how long their last words get to reach their clients before connections are cut. */
const LAST_WORDS_MS = 500;

/** Whether `work` settles within `ms`. */
export async function within(ms: number, work: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Stops accepting, lets what is in flight finish until `timeoutMs`, then stops the page answers
 * and /v1 calls still running and waits (SETTLE_GRACE_MS at most, in all) for them to settle, so
 * no hold is left open for recovery to find. Resolves once the server is closed.
 */
export async function drain(server: http.Server, running: RunningTurns, timeoutMs: number, logger: Logger): Promise<void> {
  const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const settled = () => Promise.all([running.idle(), apiCallsIdle()]);
  if (await within(timeoutMs, Promise.all([serverClosed, settled()]))) return;
  const settleBy = Date.now() + SETTLE_GRACE_MS;
  const left = () => Math.max(0, settleBy - Date.now());
  if (running.size) {
    logger.warn({ running: running.size }, 'stopping the answers still running at the shutdown deadline');
    running.abortAll();
    await within(left(), running.idle());
    // A stopped answer's end ("Stopped.", a /v1 error event) goes out before its connection is cut.
    await within(Math.min(left(), LAST_WORDS_MS), serverClosed);
  }
  // A connection still open now (a slow client, a call not stopped above) is cut, which stops its
  // call as a client going away does; never waited on: it could stay open as long as a model writes.
  server.closeAllConnections();
  await serverClosed;
  if (!(await within(left(), settled()))) {
    logger.error({ running: running.size }, 'answers did not settle in time; hold recovery will close their holds');
  }
}
