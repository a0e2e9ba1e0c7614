// Pages following an answer (src/http/answer-feeds.ts): one render and one database read per
// answer, however many pages follow it; each page gets the same frames and the finished message.
import type { Message } from '../src/chat/conversations';
import { LiveAnswers } from '../src/chat/live-answers';
import { AnswerFeeds, type Follower } from '../src/http/answer-feeds';
import * as markdown from '../src/http/markdown';
import type { EventStream } from '../src/http/sse';
import type { Store } from '../src/storage/op';
import { createLogger } from '../src/log';
import type { ModelInfo } from '../src/metering/models';

// At 1 and 4 balance tokens a prompt and a completion token: a prompt of 10 and 2 answer tokens cost 18.
const meter = { model: { promptRate: 1_000_000, completionRate: 4_000_000 } as ModelInfo, promptTokens: 10 };
const message = (over: Partial<Message> = {}) => ({ id: 7, conversationId: 3, role: 'assistant', content: '', status: 'streaming', ...over }) as Message;

function follower() {
  const frames: string[] = [];
  const ended: Array<Message | undefined> = [];
  const f: Follower = { stream: { open: true, html: (h: string) => frames.push(h) } as unknown as EventStream, ended: (m) => ended.push(m) };
  return { f, frames, ended };
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

test('followers of an answer written here share its renders and its running cost, then each gets the finished message', () => {
  const live = new LiveAnswers();
  const feeds = new AnswerFeeds({ live, store: {} as Store, logger: createLogger('silent') });
  const turn = live.publisher();
  turn.emit({ type: 'start', assistant: message(), dropped: 0, mode: 'send', ...meter });
  turn.emit({ type: 'delta', text: 'Hello', tokens: () => 1 });
  const [a, b, c] = [follower(), follower(), follower()];
  const words = (tokens: number, charge: number) => `${tokens} tokens so far, cost ${charge}`;
  for (const x of [a, b, c]) feeds.follow(message({ content: 'Hel' }), 'Copy', x.f, words);
  expect(a.frames[0]).toContain('Hello'); // the text so far, from the turn
  expect(a.frames[0]).toContain('1 tokens so far, cost 14'); // and its cost so far
  expect(feeds.followers(7)).toBe(3);
  const renders = jest.spyOn(markdown, 'parseStreaming'); // a render parses what is not finished yet (markdown-incremental.ts)
  jest.advanceTimersByTime(300);
  turn.emit({ type: 'delta', text: ' world', tokens: () => 2 });
  expect(renders).toHaveBeenCalledTimes(1); // one render for the three of them
  expect(a.frames.at(-1)).toContain('Hello world');
  expect(a.frames.at(-1)).toContain('2 tokens so far, cost 18'); // the cost goes with the render
  expect(b.frames).toEqual(a.frames);
  turn.emit({ type: 'delta', text: '!', tokens: () => 3 }); // soon after: the piece alone, escaped, with no cost
  expect(c.frames.at(-1)).toContain('hx-swap="beforeend">!</hx-partial>');
  expect(c.frames.at(-1)).not.toContain('so far');
  const done = message({ content: 'Hello world!', status: 'done' });
  turn.emit({ type: 'end', message: done, wallet: { own: 1, buckets: [], allowance: 0, total: 1 } });
  for (const x of [a, b, c]) expect(x.ended).toEqual([done]);
  expect(feeds.followers(7)).toBe(0);
});

test('followers of an answer written elsewhere share one database read a second, the next only after the last returned, with its cost so far', async () => {
  let stored = message({ content: 'So far' });
  let reads = 0;
  let release: (() => void) | undefined;
  // As messageSoFar reads it: the message, and its hold's figures while it is being written (3 answer tokens: 10 + 12).
  const store = {
    read: async () => {
      reads++;
      if (reads === 2) await new Promise<void>((r) => (release = r)); // a slow read
      return { message: stored, soFar: stored.status === 'streaming' ? { tokens: 3, charge: 22, meter } : undefined };
    },
  } as unknown as Store;
  const feeds = new AnswerFeeds({ live: new LiveAnswers(), store, logger: createLogger('silent') });
  const [a, b] = [follower(), follower()];
  const words = (tokens: number, charge: number) => `${tokens} tokens so far, cost ${charge}`;
  const leaveA = feeds.follow(stored, 'Copy', a.f, words);
  feeds.follow(stored, 'Copy', b.f, words);
  expect(a.frames[0]).toContain('So far');
  stored = message({ content: 'So far, more' });
  await jest.advanceTimersByTimeAsync(1000);
  expect(reads).toBe(1);
  expect(b.frames.at(-1)).toContain('So far, more');
  expect(b.frames.at(-1)).toContain('3 tokens so far, cost 22');
  await jest.advanceTimersByTimeAsync(5000); // the second read hangs: no read piles up behind it
  expect(reads).toBe(2);
  stored = message({ content: 'All of it', status: 'done' });
  release!();
  await jest.advanceTimersByTimeAsync(0);
  expect(a.ended).toEqual([stored]);
  expect(b.ended).toEqual([stored]);
  leaveA(); // leaving after the end changes nothing
  expect(feeds.followers(7)).toBe(0);
});

test('the last follower to leave stops the feed: no more reads', async () => {
  let reads = 0;
  const store = { read: async () => (reads++, { message: message({ content: 'x' }) }) } as unknown as Store;
  const feeds = new AnswerFeeds({ live: new LiveAnswers(), store, logger: createLogger('silent') });
  const a = follower();
  const leave = feeds.follow(message(), 'Copy', a.f);
  await jest.advanceTimersByTimeAsync(1000);
  leave();
  await jest.advanceTimersByTimeAsync(5000);
  expect(reads).toBe(1);
});
