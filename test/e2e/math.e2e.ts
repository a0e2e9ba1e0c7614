// Math in answers (issue 26), in a real browser (Chromium via playwright-core): TeX typeset as MathML
// while the answer streams and once it is done, dollar amounts left alone, the code of a fence still
// open kept in its code block between renders, the text so far typeset for a page without JavaScript
// too, Copy answer giving the TeX source; on a 390 px phone
// in both languages, light and dark, with axe (best practices included) finding nothing and the CSP
// refusing nothing. Needs a Chromium binary: /usr/bin/chromium (Debian's) or $CHROMIUM_PATH.
import type { Browser, Page } from 'playwright-core';
import { gate, startFakeUpstream, type FakeUpstream } from '../fake-upstream';
import { axeViolations, launchChromium, VIEWPORTS, within, withNewUser } from './browser';
import { startTestServer, type TestServer } from '../helpers';

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

const PHONE = VIEWPORTS.find((v) => v.name === 'phone')!.options;
const INTEGRAL = '\\int_0^1 x^2\\,dx = \\frac{1}{3}';
// Held at the gate after the first three: math done, a code fence opened and not yet closed.
const PIECES = [
  'Einstein: $E = mc^2$, and\n\n', `$$${INTEGRAL}$$\n\n`, 'Code:\n\n```python\nprint(1)\n',
  'print', '(2)', '\n', 'print(3)\n', '```\n\n', 'It costs $5 and $10.\n\n', 'Not TeX: $\\frac{1}{$\n\n',
  // Formulas far wider than a phone: each scrolls in its own box, the page does not.
  `Long: $${Array.from({ length: 40 }, (_, i) => `x_{${i}}`).join('+')}$\n\n$$${Array.from({ length: 40 }, (_, i) => `y_{${i}}`).join('+')}$$`,
];

/** Records any moment, once the code block is on the page, where its code shows outside it. */
async function watchCodeStaysInside(page: Page): Promise<void> {
  await page.evaluate(() => {
    const escaped: string[] = [];
    (window as unknown as { escaped: string[] }).escaped = escaped;
    const transcript = document.getElementById('transcript')!;
    const check = () => {
      // Before the first render the pieces are plain text; from then on, the code is in its block.
      if (!Array.from(transcript.querySelectorAll('pre code')).some((c) => c.textContent?.includes('print'))) return;
      const walker = document.createTreeWalker(transcript, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        if (/print/.test(n.textContent ?? '') && !n.parentElement?.closest('code')) escaped.push(n.textContent ?? '');
      }
    };
    new MutationObserver(check).observe(transcript, { childList: true, subtree: true, characterData: true });
  });
}

/** How a formula is laid out: its box, and whether c's exponent 2 sits above the c. */
const layout = (page: Page) => page.evaluate(() => {
  const math = Array.from(document.querySelectorAll('#transcript .msg-body.markdown math'));
  const box = (e: Element | null | undefined) => e?.getBoundingClientRect() ?? { top: 0, bottom: 0, width: 0, height: 0 };
  const sup = math[0]?.querySelector('msup');
  return {
    count: math.length,
    display: math.map((m) => m.getAttribute('display') ?? 'inline'),
    tex: math.map((m) => m.querySelector('annotation')?.textContent),
    sized: math.every((m) => box(m).width > 10 && box(m).height > 10),
    raised: box(sup?.lastElementChild).bottom < box(sup?.firstElementChild).bottom,
  };
});

describe('math in an answer, streamed and finished', () => {
  test.each([
    { locale: 'en', scheme: 'light' as const }, { locale: 'en', scheme: 'dark' as const },
    { locale: 'zh-CN', scheme: 'light' as const }, { locale: 'zh-CN', scheme: 'dark' as const },
  ])('$locale, $scheme, 390 px: typeset while it streams and when done, code kept in its block, Copy gives the TeX', ({ locale, scheme }) =>
    withNewUser(browser, app.url, `e2e_math_${locale.slice(0, 2)}_${scheme}`, async (page, { context }) => {
      const refused: string[] = [];
      page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) refused.push(m.text()); });
      await context.addCookies([{ name: 'lang', value: locale, url: app.url }]);
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: app.url });
      await page.reload();
      await watchCodeStaysInside(page);
      const g = gate();
      upstream.script({ kind: 'stream', pieces: PIECES, gate: g, gateAfter: 3, delayMs: 15, usage: { prompt_tokens: 30, completion_tokens: 40 } });
      await page.fill('#message', 'Some math, please');
      await page.tap('#submit');
      await within(g.reached, 'the model was not called');
      // While it streams: the formulas are typeset in the answer being written, the open fence is code.
      const streaming = page.locator('#transcript .msg-body.streaming');
      await streaming.locator('math[display="block"]').waitFor();
      await streaming.locator('pre code', { hasText: 'print(1)' }).waitFor();
      // A page without JavaScript, opened meanwhile, shows the text so far typeset too.
      await page.waitForURL(/\/c\/\d+$/);
      const noScript = await browser.newContext({ ...PHONE, colorScheme: scheme, javaScriptEnabled: false, storageState: await context.storageState() });
      try {
        const plain = await noScript.newPage();
        await plain.goto(page.url());
        // The text so far as kept (its first piece at least: it is kept about once a second, as pieces come).
        expect(await plain.locator('#transcript .msg-body.streaming math annotation').first().textContent()).toBe('E = mc^2');
        expect(await plain.locator('#transcript .msg-body.streaming').textContent()).not.toContain('$');
      } finally {
        await noScript.close();
      }
      g.release();
      await page.locator('#transcript article.msg-assistant .msg-meta strong').waitFor(); // finished and charged
      expect(await page.evaluate(() => (window as unknown as { escaped: string[] }).escaped)).toEqual([]);

      const body = page.locator('#transcript .msg-body.markdown').last();
      expect(await layout(page)).toMatchObject({ count: 4, display: ['inline', 'block', 'inline', 'block'], sized: true, raised: true });
      expect((await layout(page)).tex.slice(0, 2)).toEqual(['E = mc^2', INTEGRAL]);
      // The two long formulas scroll in their own box, which Tab reaches (static/scrollers.js); the others fit.
      await page.waitForFunction(() => Array.from(document.querySelectorAll('#transcript .msg-body.markdown math'))
        .map((m) => (m.scrollWidth > m.clientWidth ? m.getAttribute('tabindex') : 'fits')).join() === 'fits,fits,0,0');
      expect(await body.locator('pre code').textContent()).toBe('print(1)\nprint(2)\nprint(3)\n');
      expect(await body.locator('p', { hasText: 'It costs' }).textContent()).toBe('It costs $5 and $10.');
      expect(await body.locator('code.math-error').textContent()).toBe('$\\frac{1}{$'); // shown as written, marked

      await page.locator('#transcript .copy-answer').last().tap();
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(PIECES.join(''));

      expect(await page.evaluate(() => document.querySelectorAll('#transcript [style]').length)).toBe(0);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      // axe goes in as a script the CSP refuses: the conversation is audited in a context of its own that bypasses it.
      const audit = await browser.newContext({ ...PHONE, colorScheme: scheme, bypassCSP: true, storageState: await context.storageState() });
      try {
        const reread = await audit.newPage();
        await reread.goto(page.url());
        expect((await layout(reread)).tex.slice(0, 2)).toEqual(['E = mc^2', INTEGRAL]);
        expect(await reread.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
        expect(await axeViolations(reread)).toEqual([]);
      } finally {
        await audit.close();
      }
      // KaTeX's stylesheet and fonts come from this server; the CSP refused nothing (no inline style).
      const css = await page.request.get(`${app.url}/vendor/katex/katex.min.css`);
      expect(css.status()).toBe(200);
      const font = /url\((fonts\/KaTeX_Main-Regular\.woff2)\)/.exec(await css.text())![1];
      expect((await page.request.get(`${app.url}/vendor/katex/${font}`)).status()).toBe(200);
      expect(refused).toEqual([]);
    }, { context: { ...PHONE, colorScheme: scheme } }));
});
