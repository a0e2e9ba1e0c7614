// Attaching images to a message in a real browser (Chromium via playwright-core), on a 390 px
// phone, in both languages, light and dark: chosen with the file input and pasted into the
// textbox, shown as chips with thumbnails, priced in the estimate before sending (the model's
// image rule), sent to the model as data URIs and shown as thumbnails in the transcript; axe finds
// nothing (WCAG 2.2 AA and best practices), nothing scrolls sideways.
// Needs a Chromium binary: /usr/bin/chromium (Debian's `chromium` package) or $CHROMIUM_PATH.
import type { Browser, Page } from 'playwright-core';
import { startFakeUpstream, type FakeUpstream } from '../fake-upstream';
import { auditPhonePage, launchChromium, VIEWPORTS, withNewUser } from './browser';
import { startTestServer, type TestServer } from '../helpers';
import { loadModels } from '../../src/metering/models';
import { PNG } from '../attachments-helpers';

const MODEL = loadModels().find('gpt-4o-mini')!; // the default with a model API key; it reads images

let browser: Browser;
let app: TestServer;
let upstream: FakeUpstream;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  app = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: upstream.url, DEMO_DELAY_MS: '0', SIGNUP_BONUS: '500000' });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await upstream?.close();
});

/** Pastes a PNG into the textbox as a browser does with an image on the clipboard. */
async function pasteImage(page: Page, name: string): Promise<void> {
  await page.evaluate(([b64, fileName]) => {
    const bytes = Uint8Array.from(atob(b64!), (c) => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], fileName!, { type: 'image/png' }));
    document.getElementById('message')!.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  }, [PNG.toString('base64'), name]);
}

const firstNumber = (text: string) => Number((/\d[\d,.\s]*/.exec(text)?.[0] ?? '0').replace(/[^\d]/g, ''));

const CASES = (['light', 'dark'] as const).flatMap((colorScheme) => ['en', 'zh-CN'].map((locale) => ({ colorScheme, locale })));

describe('images on the chat page', () => {
  test.each(CASES)('attached by the file input and by paste, priced in the estimate, sent, and shown as thumbnails on a phone: $locale, $colorScheme', async ({ colorScheme, locale }) => {
    const found: string[] = [];
    const wide: string[] = [];
    {
      {
        const where = `${colorScheme} ${locale}`;
        const context = { ...VIEWPORTS[1]!.options, bypassCSP: true, colorScheme, locale, extraHTTPHeaders: { 'Accept-Language': locale } };
        await withNewUser(browser, app.url, `e2e_att_${colorScheme}_${locale === 'en' ? 'en' : 'zh'}`, async (page) => {
          expect(await page.locator('#attach').isHidden()).toBe(true); // with JavaScript, files attach as they are chosen
          await page.setInputFiles('#file', { name: 'leaf.png', mimeType: 'image/png', buffer: PNG });
          await page.locator('#attachments img.chip-thumb').first().waitFor();
          await pasteImage(page, 'pasted.png');
          await page.waitForFunction(() => document.querySelectorAll('#attachments input[name="attachment"]').length === 2);
          await page.fill('#message', 'What is in these pictures?');
          await page.waitForFunction((least) => Number(/\d[\d,.\s]*/.exec(document.getElementById('estimate')?.textContent ?? '')?.[0]?.replace(/[^\d]/g, '') ?? 0) > least, 2 * MODEL.imageTokens.high);
          expect(firstNumber(await page.locator('#estimate').innerText())).toBeGreaterThan(2 * MODEL.imageTokens.high);
          await auditPhonePage(page, `${where} composer`, found, wide);

          const calls = upstream.requests.length;
          await page.tap('#submit');
          await page.locator('#transcript article.msg-assistant .msg-meta strong').waitFor();
          const body = upstream.requests.at(-1)!.body as { messages: Array<{ role: string; content: unknown }> };
          expect(upstream.requests.length).toBe(calls + 1);
          const images = (body.messages.at(-1)!.content as Array<{ type: string; image_url?: { url: string } }>).filter((p) => p.type === 'image_url');
          expect(images.map((p) => p.image_url!.url)).toEqual([`data:image/png;base64,${PNG.toString('base64')}`, `data:image/png;base64,${PNG.toString('base64')}`]);
          expect(await page.locator('#attachments input[name="attachment"]').count()).toBe(0); // the chips went with the question

          await page.reload();
          const thumbs = page.locator('#transcript .msg-files img');
          await thumbs.first().waitFor();
          expect(await thumbs.count()).toBe(2);
          await page.waitForFunction(() => Array.from(document.querySelectorAll<HTMLImageElement>('#transcript .msg-files img')).every((i) => i.complete && i.naturalWidth === 1));
          await auditPhonePage(page, `${where} transcript`, found, wide);
        }, { context, how: 'tap' });
      }
    }
    expect(found).toEqual([]);
    expect(wide).toEqual([]);
  });

  test('without JavaScript: choose, Attach, and the page comes back with the draft and the chip; Send, and the transcript shows the thumbnail', () =>
    withNewUser(browser, app.url, 'e2e_att_nojs', async (page) => {
      expect(await page.locator('#attach').isVisible()).toBe(true);
      await page.fill('#message', 'Describe it');
      await page.setInputFiles('#file', { name: 'leaf.png', mimeType: 'image/png', buffer: PNG });
      await Promise.all([page.waitForLoadState('load'), page.click('#attach')]);
      await page.locator('#attachments img.chip-thumb').waitFor();
      expect(await page.inputValue('#message')).toBe('Describe it');
      await page.click('#submit');
      await page.locator('#transcript .msg-files img').waitFor({ timeout: 15_000 }); // the page reloads itself until the answer ends
      const body = upstream.requests.at(-1)!.body as { messages: Array<{ content: unknown }> };
      expect(JSON.stringify(body.messages.at(-1)!.content)).toContain(`data:image/png;base64,${PNG.toString('base64')}`);
    }, { context: { ...VIEWPORTS[0]!.options, javaScriptEnabled: false, bypassCSP: true } }));
});
