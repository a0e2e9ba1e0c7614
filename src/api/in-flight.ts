// The /v1 calls this process is running, so shutdown can wait for their settles before it closes
// the database: a call cut off at the drain deadline is charged prompt + delivered (its client
// went away), and that write must land, not be left to hold recovery.
const calls = new Set<Promise<unknown>>();

export function tracked<T>(work: Promise<T>): Promise<T> {
  calls.add(work);
  work.then(() => calls.delete(work), () => calls.delete(work));
  return work;
}

/** Resolves once no /v1 call is running: those running now, and any started meanwhile, have finished. */
export async function apiCallsIdle(): Promise<void> {
  while (calls.size) await Promise.allSettled([...calls]);
}
