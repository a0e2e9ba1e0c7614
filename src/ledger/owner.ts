// Which server process took a hold: its host, its pid, an id of its own start, and the pid table
// it lives in (the boot and the pid namespace, from /proc). A process that is gone from this pid
// table is known at once (no process has its pid, or this process has its pid but another start
// id: a container's pid 1 after a restart), so the conversation its answer was in need not wait
// out the recovery window. Anything else (another host, another container sharing this host's
// name but not its pids, a system without /proc) is judged by the window alone: a live answer's
// hold must never be closed under it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';

const START = crypto.randomUUID().slice(0, 8);

/** This boot's and this pid namespace's id, or '' where /proc does not say (then nothing is judged gone). */
function pidTable(): string {
  try {
    const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const namespace = fs.readlinkSync('/proc/self/ns/pid');
    return crypto.createHash('sha256').update(`${boot}/${namespace}`).digest('hex').slice(0, 12);
  } catch {
    return '';
  }
}

const TABLE = pidTable();
export const PROCESS_OWNER = `${os.hostname()}|${process.pid}|${START}|${TABLE}`;

/** Whether the process that took a hold is known to be gone; false when it may be alive, or is not known. */
export function ownerGone(owner: string | null | undefined): boolean {
  const [host, pidText, start, table] = (owner ?? '').split('|');
  const pid = Number(pidText);
  if (!TABLE || table !== TABLE || host !== os.hostname() || !Number.isSafeInteger(pid) || pid < 1 || !start) return false;
  if (pid === process.pid) return start !== START;
  try {
    process.kill(pid, 0); // signal 0 only asks whether the process exists
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'; // EPERM: it exists, another user's
  }
}
