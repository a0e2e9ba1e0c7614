// An answer whose server process died mid-turn leaves its message "streaming" and its hold open
// until the recovery sweep (HOLD_RECOVERY_MINUTES). When that process is known to be gone (it ran
// on this host: owner.ts), the conversation need not wait: the hold is resolved at once by the
// sweep's own stop rule (the prompt and the delivered tokens charged, or nothing when nothing was
// delivered) and the message closed as stopped, so the next message goes on at once.
import { recoverHold } from '../ledger/ledger';
import { ownerGone } from '../ledger/owner';
import { query, type Op, type Store } from '../storage/op';
import { recoverMessages } from './conversations';

function* streamingHolds(conversationId: number): Op<Array<{ holdId: number; owner: string | null }>> {
  return yield* query('chat.streamingHolds', { conversationId });
}

/**
 * Closes the answers in the conversation left by a process known to be gone. Answers how many
 * answers are still being written there by processes that may be alive (another host's: those
 * wait for the recovery sweep, at most HOLD_RECOVERY_MINUTES and one heartbeat after a crash).
 */
export async function resumeAbandoned(store: Store, conversationId: number): Promise<{ resumed: number; running: number }> {
  const holds = await store.read(streamingHolds, conversationId);
  const gone = holds.filter((h) => ownerGone(h.owner));
  for (const { holdId } of gone) await recoverHold(store, holdId); // another process may get there first: then nothing
  if (gone.length > 0) await store.write(recoverMessages);
  return { resumed: gone.length, running: holds.length - gone.length };
}
