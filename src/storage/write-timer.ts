// How long the database's write transactions take, for /metrics (tokenchat_db_write_seconds). The
// server hands storage its histogram's timer when it starts (server.ts); a CLI command has none,
// so it never loads prom-client, about 45 ms of every command's start-up.

/** Called at a write transaction's commit (or failure). */
type StopTimer = () => unknown;

let startTimer: () => StopTimer = () => () => undefined;

/** Each write transaction calls `timer` when it starts, and what that returned when it ends. */
export function timeWritesWith(timer: () => StopTimer): void {
  startTimer = timer;
}

/** A write transaction starts: the function to call when it has committed or failed. */
export function writeStarted(): StopTimer {
  return startTimer();
}
