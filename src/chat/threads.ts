// Threads: Retry and Edit keep every version, so a conversation's messages form a tree (each
// message names the one it follows) and the page shows one thread of it, to the conversation's
// leaf. Pure functions over a conversation's messages; conversations.ts reads and writes them.
import type { Message, MessageOutline } from '../storage/queries/chat';

/** A message of the thread shown, with its versions: the ids of the messages of its role that follow the same one (itself included), oldest first. */
export type ThreadMessage<M extends MessageOutline = Message> = M & { versions: number[] };

/** The messages that follow each message (key 0: the first questions), oldest first. */
export function childrenOf<M extends MessageOutline>(all: readonly M[]): Map<number, M[]> {
  const children = new Map<number, M[]>();
  for (const m of all) {
    const key = m.parentId ?? 0;
    const list = children.get(key);
    if (list) list.push(m);
    else children.set(key, [m]);
  }
  return children;
}

/**
 * The newest thread from a message on: its newest follower, that one's newest, and so on; the last
 * one's id. A follower is always newer than the message it follows (a damaged table ends the walk).
 */
export function newestLeaf(children: Map<number, MessageOutline[]>, from: number): number {
  let id = from;
  for (let next = children.get(id)?.at(-1); next && next.id > id; next = children.get(id)?.at(-1)) id = next.id;
  return id;
}

/**
 * The thread that ends at `leafId`, first message first, each with its versions. A parent always
 * has a smaller id than its followers, so the walk ends; a leaf no longer there shows the newest thread.
 */
export function threadOf<M extends MessageOutline>(all: readonly M[], leafId: number | null): ThreadMessage<M>[] {
  const byId = new Map(all.map((m) => [m.id, m]));
  const children = childrenOf(all);
  let m = byId.get(leafId ?? 0) ?? byId.get(newestLeaf(children, 0));
  const thread: ThreadMessage<M>[] = [];
  while (m && thread.length < all.length) {
    const versions = (children.get(m.parentId ?? 0) ?? []).filter((v) => v.role === m!.role).map((v) => v.id);
    thread.push({ ...m, versions });
    m = m.parentId === null ? undefined : byId.get(m.parentId);
  }
  return thread.reverse();
}

/**
 * The question Retry answers again or Edit replaces: `target` when it is a question of the
 * thread (any of them), else the thread's last question; undefined when there is none.
 */
export function questionOf<M extends MessageOutline>(thread: readonly M[], target: number | undefined): M | undefined {
  if (target !== undefined) return thread.find((m) => m.id === target && m.role === 'user');
  return thread.filter((m) => m.role === 'user').at(-1);
}
