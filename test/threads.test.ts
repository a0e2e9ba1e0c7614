// The thread a conversation shows (src/chat/threads.ts), from its messages as stored.
import type { Message } from '../src/chat/conversations';
import { threadOf } from '../src/chat/threads';

const m = (id: number, parentId: number | null, role: 'user' | 'assistant') => ({ id, parentId, role, content: `m${id}` }) as Message;
// Q1 → A1 → Q2 → A2, then A1 answered again (A1'), then Q1 edited (Q1' → A1'').
const all = [m(1, null, 'user'), m(2, 1, 'assistant'), m(3, 2, 'user'), m(4, 3, 'assistant'), m(5, 1, 'assistant'), m(6, null, 'user'), m(7, 6, 'assistant')];
const ids = (thread: Message[]) => thread.map((x) => x.id);

test('the thread to a leaf, each message with the versions beside it', () => {
  const thread = threadOf(all, 4);
  expect(ids(thread)).toEqual([1, 2, 3, 4]);
  expect(thread.map((x) => x.versions)).toEqual([[1, 6], [2, 5], [3], [4]]);
  expect(ids(threadOf(all, 5))).toEqual([1, 5]);
  expect(ids(threadOf(all, 7))).toEqual([6, 7]);
});

test('a leaf no longer there (or none) shows the newest thread; no messages, no thread', () => {
  expect(ids(threadOf(all, 99))).toEqual([6, 7]);
  expect(ids(threadOf(all, null))).toEqual([6, 7]);
  expect(threadOf([], 4)).toEqual([]);
});

test('parents that loop (a damaged table) end the walk instead of hanging', () => {
  const looped = [m(1, 2, 'user'), m(2, 1, 'assistant')];
  expect(threadOf(looped, 2).length).toBeLessThanOrEqual(2);
  expect(ids(threadOf([m(1, 2, 'user'), m(2, 1, 'assistant'), m(3, 3, 'user')], null))).toEqual([]);
});
