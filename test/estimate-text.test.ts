// The estimate's upper bound and the picker's prices as pure functions (src/http/estimate-text.ts,
// src/http/model-price.ts): the cases a page test reaches only with a special models file.
import { accessFrom } from '../src/groups/access';
import { countHistory } from '../src/chat/history-tokens';
import { fitPrompt } from '../src/chat/turn';
import { estimateHtml, heldPrompt, type EstimateFigures } from '../src/http/estimate-text';
import { modelChoices } from '../src/http/model-price';
import { translator } from '../src/i18n';
import { loadModels, priceOf, type ModelInfo } from '../src/metering/models';

const t = translator('en');
const MINI = loadModels().find('gpt-4o-mini')!;
const figures = (over: Partial<EstimateFigures>): EstimateFigures => ({ model: MINI, total: 100, held: 100, maxTokens: null, minCompletion: 32, balance: 1_000_000, allowance: null, ...over });

test('the longest answer is the context window left after the prompt when that is less than max tokens', () => {
  const small = { ...MINI, contextWindow: 600, maxOutput: 2048 };
  expect(estimateHtml(t, 'en', figures({ model: small }))).toContain(`At most ${priceOf(small, 100, 500).toLocaleString('en')} with the longest answer (500 tokens).`);
});

test('a model counted with a margin: the prompt is held with it, as the reserve does', () => {
  const margined = { ...MINI, countMargin: 10 };
  expect(estimateHtml(t, 'en', figures({ model: margined, held: 110, maxTokens: 50 }))).toContain(`At most ${priceOf(MINI, 110, 50)} with the longest answer (50 tokens).`);
});

test('free answer tokens: the longest answer is max tokens, whatever the balance', () => {
  const free = { ...MINI, completionRate: 0 };
  expect(estimateHtml(t, 'en', figures({ model: free, balance: 200 }))).toContain('At most 100 with the longest answer (2,048 tokens).');
});

test('a spend limit smaller than the fewest answer tokens: no upper bound (sending says which limit refuses it)', () => {
  const html = estimateHtml(t, 'en', figures({ allowance: 110 }));
  expect(html).not.toContain('At most');
  expect(html).not.toContain('refused');
});

test('the picker: per 1M tokens for a very cheap model; escaped names stay text', () => {
  const cheap = { ...MINI, id: 'tiny', name: 'Tiny <b>', promptRate: 100, completionRate: 400 } as ModelInfo;
  const access = accessFrom([{ name: 'Everyone', builtin: true, models: null, pricePercent: 100 }]);
  const [choice] = modelChoices([cheap], access, t, 'en');
  expect(choice).toEqual({
    id: 'tiny', label: 'Tiny <b> — 100 / 400 per 1M tokens', price: 'Per 1M tokens: 100 for the prompt, 400 for the answer, from your balance.',
  });
});

test('a history longer than the context window: the most is worked out from the prompt the turn would send, older messages left out', async () => {
  const small = { ...MINI, contextWindow: 400, maxOutput: 100 };
  const history = [
    { role: 'user' as const, content: 'word '.repeat(300) },
    { role: 'assistant' as const, content: 'answer '.repeat(20) },
    { role: 'user' as const, content: 'And now a short question?' },
  ];
  const { total } = await countHistory(history, '', small);
  expect(total + 100).toBeGreaterThan(400);
  const held = await heldPrompt(history, '', small, total, null);
  expect(held).toBe((await fitPrompt(history, '', small, 100))!.promptTokens);
  expect(held).toBeLessThan(total);
  // The answer may be longer than the whole history would have left room for: the bound says so.
  expect(estimateHtml(t, 'en', figures({ model: small, total, held }))).toContain(`At most ${priceOf(small, held!, 100)} with the longest answer (100 tokens).`);
  // Not even the last message fits: no bound (sending is refused as too long).
  const alone = [{ role: 'user' as const, content: 'word '.repeat(500) }];
  const { total: long } = await countHistory(alone, '', small);
  expect(await heldPrompt(alone, '', small, long, null)).toBeUndefined();
  expect(estimateHtml(t, 'en', figures({ model: small, total: long, held: undefined }))).not.toContain('At most');
});
