// Fitting a history to the context window from the token counts stored with each message: the
// prompt total must stay exactly what countPromptTokens gives for the messages sent, and nothing
// already counted (under the model's encoding) is counted again.
import type { HistoryMessage } from '../src/chat/conversations';
import { loadModels, type ModelInfo } from '../src/metering/models';
import { countMessageTokens, countPromptTokens } from '../src/metering/tokens';
import * as tokensText from '../src/metering/tokens-text';
import { fitPrompt, withSystem } from '../src/chat/turn';

const catalog = loadModels();
const MINI = catalog.find('gpt-4o-mini')!; // o200k_base
const GPT35 = catalog.find('gpt-3.5-turbo')!; // cl100k_base

type Plain = { role: 'user' | 'assistant'; content: string };
const u = (content: string): Plain => ({ role: 'user', content });
const a = (content: string): Plain => ({ role: 'assistant', content });

const HISTORIES: Array<{ name: string; system: string; history: Plain[] }> = [
  { name: 'one question, no system prompt', system: '', history: [u('What is a token?')] },
  {
    name: 'CJK with a system prompt',
    system: '你是一个乐于助人的助手。回答要简短，用中文。',
    history: [u('什么是分词器？'), a('分词器把文本切成词元（token），模型按词元计费。'), u('日本語と한국어も混ぜて: トークン化、토큰화、分词。')],
  },
  {
    name: 'code, emoji, a blank system prompt and an empty question',
    system: '   ',
    history: [u('```ts\nconst x = 1;\n```\n'), a('👍🏽 Done.\n\n  '), u(''), a('Ok'), u('a'.repeat(700) + ' 🇨🇳🇯🇵 ' + '字'.repeat(600))],
  },
  {
    name: 'a long system prompt and a long history',
    system: 'You are terse.\n'.repeat(50),
    history: Array.from({ length: 24 }, (_, i) => (i % 2 ? a(`Answer ${i}: ${'lorem ipsum '.repeat(i)}`) : u(`Question ${i}? ${'为什么 '.repeat(i)}`))),
  },
];

/** The history as chat.ts stores it: each message with its own count, made when it was written. */
async function stored(history: Plain[], model: ModelInfo): Promise<HistoryMessage[]> {
  const { counts, encoding } = await countMessageTokens(model.id, history, { encoding: model.encoding });
  return history.map((m, i) => ({ ...m, id: i + 1, tokens: counts[i]!, tokensEncoding: encoding }));
}

const fullCount = async (model: ModelInfo, system: string, history: Plain[]) =>
  (await countPromptTokens({ model: model.id, messages: withSystem(system, history) }, { encoding: model.encoding })).total;

describe('fitPrompt with stored counts', () => {
  for (const model of [MINI, GPT35]) {
    for (const { name, system, history } of HISTORIES) {
      test(`${model.id}, ${name}: the prompt total is exactly countPromptTokens'`, async () => {
        const full = await fullCount(model, system, history);
        const fromStored = await fitPrompt(await stored(history, model), system, model, 0);
        expect(fromStored).toMatchObject({ promptTokens: full, dropped: 0 });
        // Only role and content go to the model.
        expect(fromStored!.messages).toEqual(withSystem(system, history));
        // Nothing stored (an older row) counts the same.
        expect((await fitPrompt(history, system, model, 0))!.promptTokens).toBe(full);
      });
    }
  }

  test('dropping messages subtracts their counts: the total is still exactly that of what is sent', async () => {
    const { system, history } = HISTORIES[3]!;
    for (const keep of [2, 4, 10]) { // the history ends with an answer: a tail of even length starts with a question
      const tail = history.slice(-keep);
      const room = 256;
      const model = { ...MINI, contextWindow: (await fullCount(MINI, system, tail)) + room };
      const fitted = (await fitPrompt(await stored(history, MINI), system, model, room))!;
      expect(fitted.dropped).toBe(history.length - keep);
      expect(fitted.messages).toEqual(withSystem(system, tail));
      expect(fitted.promptTokens).toBe(await fullCount(MINI, system, tail));
    }
  });

  test('only the system prompt and messages without a count are counted; their counts come back to be stored', async () => {
    const { system, history } = HISTORIES[1]!;
    const old = await stored(history, MINI);
    old[1] = { ...old[1]!, tokens: null, tokensEncoding: null }; // an answer not counted yet
    const text = '还有一个问题。';
    const countText = jest.spyOn(tokensText, 'countText');
    try {
      const fitted = (await fitPrompt([...old, { role: 'user', content: text }], system, MINI, 0))!;
      const counted = countText.mock.calls.map((call) => call[0]);
      expect(counted.filter((s) => s.length > 10).sort()).toEqual([system, history[1]!.content].sort());
      expect(counted).toContain(text);
      expect(counted).not.toContain(history[0]!.content);
      expect(counted).not.toContain(history[2]!.content);
      const [answer, textCount] = (await countMessageTokens(MINI.id, [history[1], u(text)], { encoding: MINI.encoding })).counts;
      expect(fitted.counts).toEqual({ encoding: 'o200k_base', text: textCount, messages: [{ id: 2, tokens: answer }] });
      expect(fitted.promptTokens).toBe(await fullCount(MINI, system, [...history, u(text)]));
    } finally {
      countText.mockRestore();
    }
  });

  test('a count made for another encoding (the model was changed) is not reused; one for this encoding is', async () => {
    const { system, history } = HISTORIES[1]!;
    const forGpt35 = await stored(history, GPT35);
    expect(forGpt35[0]!.tokensEncoding).toBe('cl100k_base');
    const fitted = (await fitPrompt(forGpt35, system, MINI, 0))!;
    expect(fitted.promptTokens).toBe(await fullCount(MINI, system, history));
    expect(fitted.counts.messages.map((m) => m.id)).toEqual([1, 2, 3]);
    // A stored count is taken as it is (here a wrong one, to show it is not recounted).
    const forMini = await stored(history, MINI);
    forMini[0] = { ...forMini[0]!, tokens: forMini[0]!.tokens! + 1000 };
    expect((await fitPrompt(forMini, system, MINI, 0))!.promptTokens).toBe((await fullCount(MINI, system, history)) + 1000);
  });

  test('the per-message counts add up to countPromptTokens for the 0301 framing too', async () => {
    const { system, history } = HISTORIES[1]!;
    const messages = withSystem(system, history);
    const { counts, encoding } = await countMessageTokens('gpt-3.5-turbo-0301', messages);
    expect(encoding).toBe('cl100k_base/0301');
    const { total, tools } = await countPromptTokens({ model: 'gpt-3.5-turbo-0301', messages });
    expect(counts.reduce((x, y) => x + y, 0) + 3).toBe(total - tools);
  });
});
