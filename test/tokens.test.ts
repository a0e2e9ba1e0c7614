// Token counting. Expected numbers come from the OpenAI cookbook "How to count tokens with
// tiktoken" (its printed outputs, which it checked against usage.prompt_tokens of the API), or
// from tiktoken itself on strings short enough to encode directly.
import { get_encoding } from 'tiktoken';
import { mulberry32 } from './helpers';
import {
  CompletionCounter,
  countPromptTokens,
  countText,
  countTextSync,
  encodingForModel,
  IMAGE_TOKENS_HIGH,
  IMAGE_TOKENS_LOW,
  type EncodingName,
} from '../src/metering/tokens';
import { isBoundary } from '../src/metering/tokens-text';
import { CORPORATE, WEATHER_MESSAGES, WEATHER_TOOLS } from './fixtures/cookbook';
import { bigTools, CUSTOM_CALL_MESSAGES, CUSTOM_TOOL, DEFS_TOOL, NESTED_TOOL, PATCH } from './fixtures/tool-shapes';

const tiktoken = { cl100k_base: get_encoding('cl100k_base'), o200k_base: get_encoding('o200k_base') };
const direct = (text: string, encoding: EncodingName) => tiktoken[encoding].encode_ordinary(text).length;
afterAll(() => Object.values(tiktoken).forEach((enc) => enc.free()));

// A deterministic generator, so a failure can be replayed: random(seed)(n) is an integer in [0, n).
function random(seed: number): (n: number) => number {
  const next = mulberry32(seed);
  return (n) => Math.floor(next() * n);
}

const PARAGRAPHS = [
  'Could you explain how the ledger settles a turn when the stream is cut off?\n\n',
  '当然可以。账本先按提示词的令牌数预留额度，然后在流结束时按实际用量结算，多余的部分会退回。',
  "Here's the code:\n```ts\nconst total = prompt + completion; // 42 tokens, 3.14 ratio\n```\n",
  '- item one\n- item two\t(tabbed)  and  doubled  spaces\r\n',
  '価格は1,234円です。😀👍🏽 Ünïcödé façade naïve café — “quotes” and don\'t, I\'LL, it’s.\n',
  'https://example.com/path?query=1&x=ABCdef123 user@example.com 2024-11-24T07:14:00Z\n',
];

function chatText(length: number, seed: number): string {
  const pick = random(seed);
  let text = '';
  while (text.length < length) text += PARAGRAPHS[pick(PARAGRAPHS.length)];
  return text;
}

describe('encodingForModel', () => {
  test.each([
    ['gpt-3.5-turbo', 'cl100k_base'],
    ['gpt-35-turbo', 'cl100k_base'],
    ['gpt-4', 'cl100k_base'],
    ['gpt-4-turbo-2024-04-09', 'cl100k_base'],
    ['gpt-4-32k', 'cl100k_base'],
    ['gpt-4o', 'o200k_base'],
    ['gpt-4o-mini-2024-07-18', 'o200k_base'],
    ['gpt-4.1-nano', 'o200k_base'],
    ['gpt-4.5-preview', 'o200k_base'],
    ['gpt-5-mini', 'o200k_base'],
    ['chatgpt-4o-latest', 'o200k_base'],
    ['o1', 'o200k_base'],
    ['o3-mini', 'o200k_base'],
    ['o4-mini-2025-04-16', 'o200k_base'],
    ['ft:gpt-4o-mini-2024-07-18:acme::abc123', 'o200k_base'],
    ['openai/gpt-4', 'cl100k_base'],
  ])('%s uses %s', (model, encoding) => {
    expect(encodingForModel(model, 'cl100k_base')).toBe(encodingForModel(model, 'o200k_base'));
    expect(encodingForModel(model, 'cl100k_base')).toBe(encoding);
  });

  test('an unknown model gets the caller-supplied fallback', () => {
    expect(encodingForModel('llama-3-70b', 'cl100k_base')).toBe('cl100k_base');
    expect(encodingForModel('llama-3-70b', 'o200k_base')).toBe('o200k_base');
    expect(encodingForModel('gpt-40', 'cl100k_base')).toBe('cl100k_base');
  });
});

describe('countText', () => {
  test.each([
    // The cookbook's sections 3 and 5.
    ['tiktoken is great!', 6, 6],
    ['antidisestablishmentarianism', 6, 6],
    ['2 + 2 = 4', 7, 7],
    ['お誕生日おめでとう', 9, 8],
  ])('cookbook string %j is %i tokens in cl100k_base and %i in o200k_base', async (text, cl100k, o200k) => {
    expect(await countText(text, 'cl100k_base')).toBe(cl100k);
    expect(await countText(text, 'o200k_base')).toBe(o200k);
    expect(countTextSync(text, 'cl100k_base')).toBe(cl100k);
  });

  test('special tokens in user text count as ordinary text and do not throw', async () => {
    // "<|endoftext|>" is one special token, but as text it is < | endo ft ext | > in cl100k_base.
    expect(await countText('<|endoftext|>', 'cl100k_base')).toBe(7);
    expect(await countText('<|im_start|>system<|im_end|>', 'o200k_base')).toBe(direct('<|im_start|>system<|im_end|>', 'o200k_base'));
  });

  test('100 KB of chat text counted in pieces gives exactly the count of the whole', async () => {
    const text = chatText(100_000, 7);
    for (const encoding of ['cl100k_base', 'o200k_base'] as const) {
      expect(await countText(text, encoding)).toBe(direct(text, encoding));
    }
  });

  test('a split at any boundary leaves the count unchanged (fuzzed against tiktoken)', () => {
    const alphabet = [...'aB中1 \t\n\r\'s!.，/ſTZ3-é', '\u0301', '\u00a0', '\u2028', '\u0085', '\u3000', 'ǅ', 'ʰ', '²', '😀', 'ｓ', '\u000b'];
    const pick = random(42);
    let splits = 0;
    for (let i = 0; i < 3000; i++) {
      let text = '';
      for (let n = 1 + pick(16); n > 0; n--) text += alphabet[pick(alphabet.length)];
      for (const encoding of ['cl100k_base', 'o200k_base'] as const) {
        const whole = direct(text, encoding);
        for (let b = 1; b < text.length; b++) {
          if (!isBoundary(text, b)) continue;
          splits++;
          expect([text, b, direct(text.slice(0, b), encoding) + direct(text.slice(b), encoding)]).toEqual([text, b, whole]);
        }
      }
    }
    expect(splits).toBeGreaterThan(5000);
  });

  test.each([
    ['hello world', 5, true], // before " world"
    ['hello  world', 5, true], // a letter ends its token
    ['a  b', 2, true], // before " b", not before the first space
    ['a  b', 3, false], // inside " b"
    ['x  1', 3, false], // a real split, but "x  " alone would count its two spaces as one token
    ["don't", 3, false], // o200k keeps "don't" whole
    ['e\u0301', 1, false], // o200k keeps a combining mark with its letter
    ['123456', 3, false], // digit groups depend on where the run starts
    ['abc123', 3, true],
    ['a\ud840\udc00', 1, false], // U+20000 is a letter
    ['a\ud840', 1, false], // half a pair at the end of a stream: wait for the other half
    ['a😀', 1, true],
  ])('isBoundary(%j, %i) is %s', (text, b, expected) => {
    expect(isBoundary(text, b)).toBe(expected);
  });

  test.each([
    ['1 MiB of "a"', 'a'.repeat(1 << 20)],
    ['1 Mi CJK characters with no spaces or punctuation', Array.from({ length: 1 << 20 }, (_, i) => String.fromCharCode(0x4e00 + ((i * 7919) % 20000))).join('')],
  ])('%s finishes with a sane count', async (_name, text) => {
    const tokens = await countText(text, 'o200k_base');
    expect(tokens).toBeGreaterThan(0);
    expect(tokens).toBeLessThanOrEqual(Buffer.byteLength(text));
  });
});

describe('countPromptTokens', () => {
  test.each([
    ['gpt-3.5-turbo', 129, 'cl100k_base'],
    ['gpt-4-0613', 129, 'cl100k_base'],
    ['gpt-4', 129, 'cl100k_base'],
    ['gpt-4o', 124, 'o200k_base'],
    ['gpt-4o-mini', 124, 'o200k_base'],
    ['gpt-3.5-turbo-0301', 127, 'cl100k_base'],
  ])('cookbook example messages give %s %i prompt tokens', async (model, total, encoding) => {
    expect(await countPromptTokens({ model, messages: CORPORATE })).toEqual({ total, messages: total, tools: 0, images: 0, encoding });
  });

  test.each([
    ['gpt-3.5-turbo', 105],
    ['gpt-4', 105],
    ['gpt-4o', 101],
    ['gpt-4o-mini', 101],
  ])('cookbook weather tool example gives %s %i prompt tokens', async (model, total) => {
    const count = await countPromptTokens({ model, messages: WEATHER_MESSAGES, tools: WEATHER_TOOLS });
    expect(count.total).toBe(total);
    expect(count.tools).toBe(total - (await countPromptTokens({ model, messages: WEATHER_MESSAGES })).total);
  });

  test('a name costs its text plus one token, and replaces the role (-1) on gpt-3.5-turbo-0301', async () => {
    const messages = [{ role: 'user', name: 'alice_w', content: 'hello there' }];
    const text = direct('user', 'o200k_base') + direct('alice_w', 'o200k_base') + direct('hello there', 'o200k_base');
    expect((await countPromptTokens({ model: 'gpt-4o', messages })).total).toBe(3 + text + 1 + 3);
    const old = direct('user', 'cl100k_base') + direct('alice_w', 'cl100k_base') + direct('hello there', 'cl100k_base');
    expect((await countPromptTokens({ model: 'gpt-3.5-turbo-0301', messages })).total).toBe(4 + old - 1 + 3);
  });

  test('multi-part content counts text parts as text and images by the fixed vision rule', async () => {
    const content = [
      { type: 'text', text: "What's in these images?" },
      { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
      { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } },
    ];
    const count = await countPromptTokens({ model: 'gpt-4o', messages: [{ role: 'user', content }] });
    expect([IMAGE_TOKENS_LOW, IMAGE_TOKENS_HIGH]).toEqual([85, 1445]);
    expect(count.images).toBe(85 + 1445);
    expect(count.messages).toBe(3 + direct('user', 'o200k_base') + direct("What's in these images?", 'o200k_base') + 3);
    expect(count.total).toBe(count.messages + count.images);
  });

  test('assistant tool_calls count name and arguments with a frame each; tool results count as text with the call id', async () => {
    const args = '{"location":"Paris, France","unit":"celsius"}';
    const result = '{"temperature":21,"unit":"celsius"}';
    const messages = [
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_current_weather', arguments: args } }] },
      { role: 'tool', tool_call_id: 'call_1', content: result },
    ];
    const t = (s: string) => direct(s, 'o200k_base');
    const expected = 3 + t('assistant') + 3 + t('get_current_weather') + t(args) + 3 + t('tool') + t('call_1') + t(result) + 3;
    expect((await countPromptTokens({ model: 'gpt-4.1-mini', messages })).total).toBe(expected);
  });

  test('a custom tool call counts its name and input with a frame, like a function call', async () => {
    const t = (s: string) => direct(s, 'o200k_base');
    const expected = (3 + t('user') + t('Make the settle step log each line.')) + (3 + t('assistant') + 3 + t('apply_patch') + t(PATCH)) + (3 + t('tool') + t('call_1') + t('Applied.')) + 3;
    expect(t(PATCH)).toBeGreaterThan(1000);
    expect((await countPromptTokens({ model: 'gpt-4o', messages: CUSTOM_CALL_MESSAGES })).total).toBe(expected);
  });

  test('an assistant\'s refusal and reasoning_content handed back count as text', async () => {
    const t = (s: string) => direct(s, 'o200k_base');
    const refusal = 'I cannot help with moving money between these accounts.';
    const reasoning = 'The user asks for the weather; I should call the tool with Paris and celsius.';
    const messages = [{ role: 'assistant', content: null, refusal, reasoning_content: reasoning }];
    expect((await countPromptTokens({ model: 'gpt-4o', messages })).total).toBe(3 + t('assistant') + t(refusal) + t(reasoning) + 3);
  });

  test.each([
    ['nested objects and arrays, strict', NESTED_TOOL],
    ['$defs, $ref and anyOf', DEFS_TOOL],
    ['a custom tool with a grammar', CUSTOM_TOOL],
    ['the cookbook tool with strict added', { type: 'function', function: { ...WEATHER_TOOLS[0]!.function, strict: true } }],
    ['issue 30\'s 108 KB schema', bigTools()[0]],
  ])('a tool beyond the cookbook\'s shape (%s) counts no less than its whole JSON', async (_name, tool) => {
    for (const [model, encoding] of [['gpt-4o', 'o200k_base'], ['gpt-4', 'cl100k_base']] as const) {
      const count = await countPromptTokens({ model, messages: WEATHER_MESSAGES, tools: [tool] });
      expect(count.tools).toBeGreaterThanOrEqual(direct(JSON.stringify(tool), encoding) + 12);
    }
  });

  test('the cookbook tool keeps its exact count beside a tool counted from its JSON', async () => {
    const alone = await countPromptTokens({ model: 'gpt-4o', messages: WEATHER_MESSAGES, tools: WEATHER_TOOLS });
    const both = await countPromptTokens({ model: 'gpt-4o', messages: WEATHER_MESSAGES, tools: [...WEATHER_TOOLS, NESTED_TOOL] });
    expect(alone.total).toBe(101);
    expect(both.tools - alone.tools).toBeGreaterThanOrEqual(direct(JSON.stringify(NESTED_TOOL), 'o200k_base'));
  });

  test('odd shapes count what is countable and never throw', async () => {
    const messages = [null, 42, 'hi', [], { content: null }, { role: 'user', content: 7, name: 3 }, { role: 'user', content: [null, 5, { type: 'text' }] }];
    const user = direct('user', 'o200k_base');
    expect((await countPromptTokens({ model: 'gpt-4o', messages })).total).toBe(3 + (3 + user) + (3 + user) + 3);
    const garbage = [undefined, null, {}, { model: 5, messages: 'x', tools: 'y' }, { model: 'gpt-4o', messages: [], tools: [null, { function: { parameters: { properties: { a: null, b: { enum: 'x' } } } } }] }];
    for (const request of garbage) {
      await expect(countPromptTokens(request as never)).resolves.toMatchObject({ total: expect.any(Number) });
    }
    expect(await countPromptTokens(undefined as never, { encoding: 'cl100k_base' })).toEqual({ total: 3, messages: 3, tools: 0, images: 0, encoding: 'cl100k_base' });
  });

  test('a forced encoding overrides the model family', async () => {
    expect((await countPromptTokens({ model: 'gpt-4o', messages: CORPORATE }, { encoding: 'cl100k_base' })).total).toBe(129);
    expect((await countPromptTokens({ model: 'my-local-model', messages: CORPORATE }, { fallback: 'o200k_base' })).total).toBe(124);
  });
});

describe('CompletionCounter', () => {
  test('deltas that split tokens still count as the whole text: "tiktoken is great!" is 6', () => {
    const counter = new CompletionCounter('cl100k_base');
    for (const delta of ['tik', 'tok', 'en i', 's gre', 'at', '!']) counter.push(delta);
    expect(counter.tokens).toBe(6);
    expect(counter.text).toBe('tiktoken is great!');
  });

  test.each(['cl100k_base', 'o200k_base'] as const)('random-size deltas give the count of the whole text (%s)', async (encoding) => {
    const text = chatText(30_000, 11);
    const pick = random(3);
    const counter = new CompletionCounter(encoding);
    for (let pos = 0; pos < text.length; ) {
      const end = pos + 1 + pick(12); // may split a surrogate pair: the counter must wait for its other half
      counter.push(text.slice(pos, end));
      pos = end;
    }
    expect(counter.text).toBe(text);
    expect(counter.tokens).toBe(direct(text, encoding));
    expect(counter.tokens).toBe(await countText(text, encoding));
  });

  test('the count is the same whether asked after every push, now and then, or only at the end', () => {
    const text = chatText(4_000, 5);
    const pick = random(8);
    const counters = [new CompletionCounter('o200k_base'), new CompletionCounter('o200k_base'), new CompletionCounter('o200k_base')];
    let pushes = 0;
    for (let pos = 0; pos < text.length; pushes++) {
      const end = pos + 1 + pick(20);
      for (const c of counters) c.push(text.slice(pos, end));
      expect(counters[0]!.tokens).toBe(direct(text.slice(0, Math.min(end, text.length)), 'o200k_base'));
      if (pushes % 17 === 0) expect(counters[1]!.tokens).toBe(counters[0]!.tokens);
      pos = end;
    }
    for (const c of counters) expect(c.tokens).toBe(direct(text, 'o200k_base'));
  });

  test.each([1, 40, 333])('pushWithin a limit of %i tokens shows the longest start of the answer that fits, counted or not in between', (limit) => {
    const text = chatText(6_000, 9);
    const pick = random(4);
    const counter = new CompletionCounter('cl100k_base');
    let shown = '';
    for (let pos = 0; pos < text.length; ) {
      const end = pos + 1 + pick(15);
      const delta = text.slice(pos, end);
      const part = counter.pushWithin(delta, limit);
      shown += part;
      if (part !== delta) break;
      pos = end;
    }
    expect(counter.text).toBe(shown);
    expect(text.startsWith(shown)).toBe(true);
    expect(counter.tokens).toBe(direct(shown, 'cl100k_base'));
    expect(counter.tokens).toBeLessThanOrEqual(limit);
    // One more token of the answer would not have fitted.
    expect(direct(text.slice(0, shown.length + 8), 'cl100k_base')).toBeGreaterThan(limit);
  });

  test('a long run with no boundary is cut where countText cuts it, so both agree', async () => {
    const counter = new CompletionCounter('o200k_base');
    for (let i = 0; i < 3000; i++) counter.push('a');
    expect(counter.tokens).toBe(await countText('a'.repeat(3000), 'o200k_base'));
  });
});
