// A shared conversation's files in a real browser (Chromium via playwright-core) on a 390 px phone,
// in English and Chinese, light and dark: read signed out, the question's image loads through the
// link and its document shows its name, size and, opened, the text the model read; axe-core (WCAG
// 2.2 AA and best practices) finds nothing and nothing scrolls sideways. Revoked, the image is gone.
// Needs a Chromium binary: /usr/bin/chromium or $CHROMIUM_PATH.
import type { Browser, BrowserContextOptions } from 'playwright-core';
import { auditPhonePage, launchChromium, registerIn, submit, VIEWPORTS, WAIT } from './browser';
import { startTestServer, type TestServer } from '../helpers';
import { PNG } from '../attachments-helpers';

const PHONE = VIEWPORTS.find((v) => v.name === 'phone')!.options;
const CASES = (['light', 'dark'] as const).flatMap((colorScheme) => ['en', 'zh-CN'].map((locale) => ({ colorScheme, locale })));
const ESSAY = 'Photosynthesis turns light, water and carbon dioxide into sugar and oxygen. '.repeat(20);

let browser: Browser;
let app: TestServer;
beforeAll(async () => {
  app = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await app?.close();
});

/** A finished turn whose question came with an image and a document with a long name, as a send leaves it. */
async function conversationWithFiles(username: string, title: string): Promise<number> {
  const userId = (await app.sql.value<number>('SELECT id FROM users WHERE username = ?', username))!;
  await app.sql.run('INSERT INTO conversations (user_id, title) VALUES (?, ?)', userId, title);
  const id = (await app.sql.value<number>('SELECT max(id) FROM conversations WHERE user_id = ?', userId))!;
  await app.sql.run("INSERT INTO messages (conversation_id, role, content) VALUES (?, 'user', ?)", id, title);
  const q = (await app.sql.value<number>('SELECT max(id) FROM messages WHERE conversation_id = ?', id))!;
  await app.sql.run("INSERT INTO attachments (user_id, message_id, kind, name, mime, size, data) VALUES (?, ?, 'image', 'leaf.png', 'image/png', ?, ?)", userId, q, PNG.length, PNG);
  await app.sql.run(
    "INSERT INTO attachments (user_id, message_id, kind, name, mime, size, text, pages) VALUES (?, ?, 'document', ?, 'application/pdf', 48213, ?, 3)",
    userId, q, 'lab-report-photosynthesis-final-version-2-corrected.pdf', ESSAY,
  );
  await app.sql.run(
    "INSERT INTO messages (conversation_id, role, content, model, prompt_tokens, completion_tokens, charge, source, parent_id) VALUES (?, 'assistant', 'A clear **report**.', 'gpt-4o-mini', 12, 30, 42, 'reported', ?)",
    id, q,
  );
  await app.sql.run('UPDATE conversations SET leaf_id = (SELECT max(id) FROM messages WHERE conversation_id = ?) WHERE id = ?', id, id);
  return id;
}

test.each(CASES)('a shared page with an image and a document, signed out on a phone: $locale, $colorScheme', async ({ colorScheme, locale }) => {
  const found: string[] = [];
  const where = `${locale} ${colorScheme}`;
  const options: BrowserContextOptions = { ...PHONE, colorScheme, bypassCSP: true, locale, extraHTTPHeaders: { 'Accept-Language': locale } };
  const context = await browser.newContext(options);
  const visitor = await browser.newContext(options);
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    const username = `e2e_sharefiles_${locale === 'en' ? 'en' : 'zh'}_${colorScheme}_${Date.now().toString(36)}`;
    await registerIn(page, app.url, username);
    const id = await conversationWithFiles(username, locale === 'en' ? 'My lab report' : '我的实验报告');
    await page.goto(`${app.url}/c/${id}`);
    // Download / Share, in the phone's drawer.
    if (await page.isVisible('#drawer-toggle')) await page.click('#drawer-toggle');
    await page.click('#manage details:nth-of-type(2) summary');
    await submit(page, `form[action="/c/${id}/share"] button[type="submit"]`);
    const link = await page.inputValue('.share-url');

    const reader = await visitor.newPage();
    reader.setDefaultTimeout(WAIT);
    await reader.goto(link);
    await reader.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('.shared img.msg-thumb');
      return img !== null && img.complete && img.naturalWidth === 1;
    });
    expect(await reader.textContent('.shared-doc .chip')).toMatch(/lab-report-photosynthesis-final-version-2-corrected\.pdf\s+47 KB, 3/);
    expect(await reader.isVisible('.shared-doc-text')).toBe(false);
    await reader.click('.shared-doc summary');
    expect(await reader.textContent('.shared-doc-text')).toContain('Photosynthesis turns light');
    await auditPhonePage(reader, `${where} the shared page with files`, found, found);

    await page.goto(`${app.url}/shares`);
    await submit(page, 'form[action$="/revoke"] button[type="submit"]');
    const image = await reader.getAttribute('.shared img.msg-thumb', 'src');
    expect((await reader.goto(`${new URL(link).origin}${image}`))!.status()).toBe(404);
  } finally {
    await context.close();
    await visitor.close();
  }
  expect(found).toEqual([]);
}, 60_000);
