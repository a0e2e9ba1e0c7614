// The model and what a message costs, in a real browser (issue 26: defect 6 and "costs while it
// happens"), on a 390 px phone in both languages, light and dark: the picker beside the textbox
// with the chosen model's price, the estimate's upper bound for the model chosen, the running cost
// while the answer streams (in the transcript, which is not live: never read out piece by piece),
// the estimate gone once the message is sent, and the answer naming its model. axe finds nothing,
// best practices included, and nothing scrolls sideways.
// Needs a Chromium binary: /usr/bin/chromium (Debian's `chromium` package) or $CHROMIUM_PATH.
import type { Browser } from 'playwright-core';
import { gate, startFakeUpstream, type FakeUpstream } from '../fake-upstream';
import { axeViolations, launchChromium, VIEWPORTS, within, withNewUser } from './browser';
import { startTestServer, type TestServer } from '../helpers';
import { grant } from '../../src/ledger/ledger';
import { affordableCompletion, loadModels, priceOf } from '../../src/metering/models';
import { countTextSync } from '../../src/metering/tokens';

const GPT4O = loadModels().find('gpt-4o')!;
const PHONE = VIEWPORTS.find((v) => v.name === 'phone')!.options;

let browser: Browser;
let app: TestServer;
let upstream: FakeUpstream;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  app = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: upstream.url, DEMO_DELAY_MS: '0' });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await upstream?.close();
});

/** The prompt of one user message as the estimate counts it. */
const promptOf = (text: string) => 3 + countTextSync('user', GPT4O.encoding) + countTextSync(text, GPT4O.encoding) + 3;

const WORDS = {
  en: {
    price: 'Per 1K tokens: 16,666.67 for the prompt, 66,666.67 for the answer, from your balance.',
    most: (most: string, answer: string) => `At most ${most} with the longest answer (${answer} tokens).`,
    running: (cost: string) => `1 token so far, cost ${cost}`,
    model: 'Model: GPT-4o',
  },
  'zh-CN': {
    price: '每千 tokens：提示 16,666.67，回答 66,666.67，从你的余额扣除。',
    most: (most: string, answer: string) => `回答最长（${answer} 个 tokens）时最多花费 ${most}。`,
    running: (cost: string) => `已生成 1 个 tokens，花费 ${cost}`,
    model: '模型：GPT-4o',
  },
} as const;

describe('the model and its costs on a phone', () => {
  for (const colorScheme of ['light', 'dark'] as const) {
    for (const locale of ['en', 'zh-CN'] as const) {
      test(`${locale}, ${colorScheme}: price beside the textbox, the most it can cost, the running cost, the answer's model`, () => withNewUser(browser, app.url, `e2e_cost_${colorScheme}_${locale.slice(0, 2)}`, async (page, { username }) => {
        const words = WORDS[locale];
        // GPT-4o's least answer costs more than the sign-up bonus: 100,000 more, which pay for fewer than its 2,048 answer tokens.
        const balance = 2000 + 100_000;
        await grant(app.database, (await app.sql.value('SELECT id FROM users WHERE username = ?', username)) as number, 100_000);
        const found: string[] = [];
        const audit = async (label: string) => {
          for (const v of await axeViolations(page)) found.push(`${label}: ${v}`);
          const wide = await page.evaluate(() => document.documentElement.scrollWidth);
          if (wide > 390) found.push(`${label}: ${wide}px wide`);
        };
        // The picker is in view without opening "Additional inputs"; choosing GPT-4o shows its price.
        expect(await page.locator('details.additional').evaluate((d) => (d as HTMLDetailsElement).open)).toBe(false);
        await page.selectOption('#model', 'gpt-4o');
        await within(page.waitForFunction((text) => document.getElementById('model-price')?.textContent === text, words.price), 'the price of the chosen model');
        // The estimate, for GPT-4o: the prompt's cost and the most with the longest answer the balance pays for.
        const question = 'What does this cost at most?';
        await page.fill('#message', question);
        const prompt = promptOf(question);
        const answer = Math.min(2048, affordableCompletion(GPT4O, prompt, balance));
        const most = words.most(priceOf(GPT4O, prompt, answer).toLocaleString('en'), answer.toLocaleString('en'));
        await within(page.waitForFunction((text) => document.getElementById('estimate')?.textContent?.includes(text), most), `the estimate: ${most}`)
          .catch(async (err: Error) => Promise.reject(new Error(`${err.message}; shown: ${await page.locator('#estimate').textContent()}`)));
        await audit('composer with the estimate');
        // Sent: the estimate goes; while the answer is held after its first piece, its cost so far shows.
        const held = gate();
        upstream.script({ kind: 'stream', pieces: ['One', ' two', ' three'], gate: held, gateAfter: 1, usage: { prompt_tokens: prompt, completion_tokens: 3 } });
        await page.tap('#submit');
        await within(held.reached, 'the model was not called');
        const running = words.running(priceOf(GPT4O, prompt, 1).toLocaleString('en'));
        await within(page.waitForFunction((text) => document.querySelector('[id$="-cost"]')?.textContent === text, running), `the running cost: ${running}`);
        expect(await page.locator('#estimate').textContent()).toBe('');
        // The transcript is not live: the running cost is never announced as it changes.
        expect(await page.locator('[id$="-cost"]').evaluate((el) => el.closest('[aria-live]')?.getAttribute('aria-live'))).toBe('off');
        await audit('streaming');
        held.release();
        const meta = page.locator('#transcript article.msg-assistant .msg-meta');
        await within(meta.locator('strong').waitFor(), 'the answer ended');
        expect(await meta.locator('.msg-model').textContent()).toBe(words.model);
        expect(await page.locator('#estimate').textContent()).toBe('');
        await audit('answered');
        expect(found).toEqual([]);
      }, { context: { ...PHONE, bypassCSP: true, colorScheme, locale, extraHTTPHeaders: { 'Accept-Language': locale } }, how: 'tap' }));
    }
  }
});
