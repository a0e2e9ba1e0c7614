// Issue 30, item 11: one user's flood of prompt estimates must not slow another user's turn.
// Long texts are counted on a worker thread with the same counts as on the main thread; an
// estimate longer than the composer takes is refused before anything is counted; and estimates
// are rationed per user in characters a minute, not only in calls.
import { EstimateBudget } from '../src/http/estimate-budget';
import { countInWorker, stopCountWorkers } from '../src/metering/count-pool';
import * as tokensText from '../src/metering/tokens-text';
import { countText, countTextSync, WORKER_MIN_CHARS, type EncodingName } from '../src/metering/tokens-text';
import { composer, db, newUser, post, type Fields, type User } from './chat-helpers';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { startTestServer, type TestServer } from './helpers';

afterAll(() => stopCountWorkers());

const cjk = (n: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(0x4e00 + ((i * 7919) % 20000))).join('');
const TEXTS: Record<string, string> = {
  'Chinese prose': '当然可以。账本会先按提示词的令牌数预留额度，然后在流结束时按实际用量结算，多余的部分会退回到余额。'.repeat(400),
  'CJK with no punctuation': cjk(20_000),
  emoji: '😀👍🏽🇫🇷 ok! '.repeat(3000),
  'a run of one letter': 'a'.repeat(50_000),
  'a run of one digit': '7'.repeat(20_000),
  mixed: Array.from({ length: 300 }, (_, i) => `Line ${i}: the ledger's "hold" — 预留 ${i * 37} tokens 😀\n\`\`\`ts\nconst x${i} = ${i};\n\`\`\`\n`).join(''),
  short: 'How many tokens is this?',
};

describe('counting on a worker thread', () => {
  test.each(Object.entries(TEXTS))('%s: the worker counts what countTextSync counts, in both encodings', async (_name, text) => {
    for (const encoding of ['o200k_base', 'cl100k_base'] as EncodingName[]) {
      expect(await countInWorker(text, encoding)).toBe(countTextSync(text, encoding));
      expect(await countText(text, encoding)).toBe(countTextSync(text, encoding));
    }
  });

  test('the long texts above are long enough to be sent to the worker by countText', () => {
    expect(Object.values(TEXTS).filter((t) => t.length >= WORKER_MIN_CHARS)).toHaveLength(Object.keys(TEXTS).length - 1);
  });
});

describe('POST /estimate under a flood', () => {
  let fake: FakeUpstream;
  let srv: TestServer;
  beforeAll(async () => {
    fake = await startFakeUpstream();
    // The least budget there may be: one estimate of the longest message with the longest system prompt.
    srv = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, LOGIN_RATE_LIMIT_PER_IP: '10000', ESTIMATE_CHARS_PER_MINUTE: '120000' });
  });
  afterAll(async () => {
    await srv.close();
    await fake.close();
  });

  const estimate = (who: User, f: Fields) => who.agent.post('/estimate').type('form').set('HX-Request', 'true').send(f);

  /** What `act` answers, and whether anything was counted meanwhile. */
  async function counting<T>(act: () => Promise<T>): Promise<{ answer: T; counted: boolean }> {
    const spy = jest.spyOn(tokensText, 'countText');
    try {
      const answer = await act();
      return { answer, counted: spy.mock.calls.length > 0 };
    } finally {
      spy.mockRestore();
    }
  }

  test('a message of 200,001 characters is refused with 422 and the composer\'s own words, before anything is counted; sending it is refused too', async () => {
    const user = await newUser(srv);
    const fields = await composer(user);
    const { answer, counted } = await counting(() => estimate(user, { ...fields, message: 'x'.repeat(200_001) }));
    expect(answer.status).toBe(422);
    expect(answer.text).toBe('This message is longer than 100,000 characters. Shorten it or send it in parts.');
    expect(counted).toBe(false);
    const sent = await counting(() => post(user, '/send', { ...fields, message: 'x'.repeat(200_001) }));
    expect(sent.answer.status).toBe(422);
    expect(sent.answer.text).toContain('This message is longer than 100,000 characters.');
    expect(sent.counted).toBe(false);
    expect(await db(srv).holds(user)).toEqual([]);
    // Nothing of the user's minute was taken: the longest message the composer takes is still estimated.
    const longest = await estimate(user, { ...fields, message: 'x '.repeat(50_000) });
    expect(longest.status).toBe(200);
    expect(longest.text).toMatch(/^About [\d,]+ prompt tokens/);
  });

  test('in Chinese, the refusal says so in Chinese', async () => {
    const user = await newUser(srv);
    const fields = await composer(user);
    const answer = await user.agent.post('/estimate').type('form').set('HX-Request', 'true').set('Accept-Language', 'zh-CN').send({ ...fields, message: '字'.repeat(100_001) });
    expect(answer.status).toBe(422);
    expect(answer.text).toBe('这条消息超过 100,000 个字符。请缩短，或分几次发送。');
  });

  test('past ESTIMATE_CHARS_PER_MINUTE, 429 in the estimate slot and nothing counted; what is left, and another user, are unaffected', async () => {
    const user = await newUser(srv);
    const other = await newUser(srv);
    const fields = await composer(user);
    expect((await estimate(user, { ...fields, message: 'x '.repeat(30_000) })).status).toBe(200); // 60,000 of 120,000
    const { answer, counted } = await counting(() => estimate(user, { ...fields, message: 'x '.repeat(30_000) + '!' }));
    expect(answer.status).toBe(429);
    expect(answer.text).toBe('Too many estimates in the last minute; the next one comes shortly. Sending is not affected.');
    expect(counted).toBe(false);
    expect((await estimate(user, { ...fields, message: 'x '.repeat(30_000) })).status).toBe(200); // exactly what was left
    expect((await estimate(user, { ...fields, message: 'Still there?' })).status).toBe(429);
    const elsewhere = await estimate(other, { ...(await composer(other)), message: 'x '.repeat(30_000) });
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.text).toMatch(/^About [\d,]+ prompt tokens/);
  });
});

describe('EstimateBudget', () => {
  test('characters a minute per user, one estimate counted at a time, a new minute a new budget', () => {
    let now = 0;
    const budget = new EstimateBudget(1000, () => now);
    const first = budget.take(1, 600)!;
    expect(first).toBeInstanceOf(Function);
    expect(budget.take(1, 10)).toBeUndefined(); // the first is still being counted
    expect(budget.take(2, 1000)).toBeInstanceOf(Function); // another user has a budget of their own
    first();
    expect(budget.take(1, 401)).toBeUndefined(); // more than is left: refused, and takes nothing
    budget.take(1, 400)!();
    expect(budget.take(1, 1)).toBeUndefined();
    now = 60_000;
    expect(budget.take(1, 1000)).toBeInstanceOf(Function);
  });
});
