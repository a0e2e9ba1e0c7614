// Which server process took a hold: its host, its pid and an id of its own start. A process that
// is gone on this host is known at once (no process has its pid, or this process has its pid but
// another start id: a container's pid 1 after a restart), so the conversation its answer was in
// need not wait out the recovery window. Another host's process is judged by the window alone.
import crypto from 'node:crypto';
import os from 'node:os';

const START = crypto.randomUUID().slice(0, 8);
export const PROCESS_OWNER = `${os.hostname()}|${process.pid}|${START}`;

/** Whether the process that took a hold is known to be gone; false when it may be alive, or is not known. */
export function ownerGone(owner: string | null | undefined): boolean {
  const [host, pidText, start] = (owner ?? '').split('|');
  const pid = Number(pidText);
  if (host !== os.hostname() || !Number.isSafeInteger(pid) || pid < 1 || !start) return false;
  if (pid === process.pid) return start !== START;
  try {
    process.kill(pid, 0); // signal 0 only asks whether the process exists
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'; // EPERM: it exists, another user's
  }
}
