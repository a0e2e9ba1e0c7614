// Export, share links and prompt presets in a real browser (Chromium via playwright-core) on a
// 390 px phone, in English and Chinese, light and dark: a preset made and picked into the message
// box (a GET form: no JavaScript needed), the conversation downloaded as Markdown and JSON with
// its title in the file name, a link shared, read signed out (noindex) and revoked, and the admin's
// publishing page. axe-core (WCAG 2.2 AA and best practices) finds nothing; nothing scrolls sideways.
// Needs a Chromium binary: /usr/bin/chromium or $CHROMIUM_PATH.
import fs from 'node:fs';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { auditPhonePage, launchChromium, registerIn, submit, VIEWPORTS, WAIT } from './browser';
import { startTestServer, type TestServer } from '../helpers';

const PHONE = VIEWPORTS.find((v) => v.name === 'phone')!.options;
const CASES = (['light', 'dark'] as const).flatMap((colorScheme) => ['en', 'zh-CN'].map((locale) => ({ colorScheme, locale })));

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

/** A conversation of one question and a markdown answer, as a finished turn leaves it. */
async function conversationOf(username: string, title: string): Promise<number> {
  const userId = await app.sql.value<number>('SELECT id FROM users WHERE username = ?', username);
  await app.sql.run('INSERT INTO conversations (user_id, title) VALUES (?, ?)', userId, title);
  const id = (await app.sql.value<number>('SELECT max(id) FROM conversations WHERE user_id = ?', userId))!;
  await app.sql.run("INSERT INTO messages (conversation_id, role, content) VALUES (?, 'user', ?)", id, title);
  const q = await app.sql.value<number>('SELECT max(id) FROM messages WHERE conversation_id = ?', id);
  await app.sql.run(
    "INSERT INTO messages (conversation_id, role, content, model, prompt_tokens, completion_tokens, charge, source, parent_id) VALUES (?, 'assistant', ?, 'gpt-4o-mini', 12, 30, 42, 'reported', ?)",
    id, '## Cells\n\n| Part | Job |\n| --- | --- |\n| Nucleus | Holds DNA |\n\n```python\nprint("cell")\n```', q,
  );
  await app.sql.run('UPDATE conversations SET leaf_id = (SELECT max(id) FROM messages WHERE conversation_id = ?) WHERE id = ?', id, id);
  return id;
}

/** The phone's drawer holds the sidebar: opened when its button shows. */
async function openSidebar(page: Page) {
  if (await page.isVisible('#drawer-toggle')) await page.click('#drawer-toggle');
}

test.each(CASES)('presets, export and a share link on a phone: $locale, $colorScheme', async ({ colorScheme, locale }) => {
  const found: string[] = [];
  const where = `${locale} ${colorScheme}`;
  const options: BrowserContextOptions = { ...PHONE, colorScheme, bypassCSP: true, locale, extraHTTPHeaders: { 'Accept-Language': locale }, acceptDownloads: true };
  const context = await browser.newContext(options);
  const visitor = await browser.newContext({ ...options, timezoneId: 'Pacific/Auckland' }); // a reader elsewhere: the page follows their browser
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    const username = `e2e_share_${locale === 'en' ? 'en' : 'zh'}_${colorScheme}_${Date.now().toString(36)}`;
    await registerIn(page, app.url, username);
    const title = locale === 'en' ? 'What do cells do?' : '细胞有什么作用？';
    const id = await conversationOf(username, title);

    // A preset, made on its page and picked beside the composer.
    await page.goto(`${app.url}/presets`);
    await page.fill('#new-name', 'Biology tutor');
    await page.fill('#new-body', 'Explain it as to a 14-year-old:');
    await submit(page, 'form[action="/presets"] button[type="submit"]');
    expect(await page.isVisible('p.notice')).toBe(true);
    await page.click('.preset-list summary');
    await auditPhonePage(page, `${where} presets`, found, found);
    await page.fill('#new-name', 'Kind teacher');
    await page.fill('#new-body', 'You are a kind teacher.');
    await page.check('#new-kind-system');
    await submit(page, 'form[action="/presets"] button[type="submit"]');
    const label = (name: string, kind: 'prompt' | 'system') =>
      locale === 'en' ? `${name} (${kind === 'prompt' ? 'Prompt' : 'System prompt'})` : `${name}（${kind === 'prompt' ? '提示词' : '系统提示词'}）`;
    // With JavaScript: filled in place, the page not reloaded (a draft or attached files would stay).
    await page.goto(`${app.url}/c/${id}`);
    await page.evaluate(() => ((window as unknown as { stayed: boolean }).stayed = true));
    await page.selectOption('#preset', { label: label('Biology tutor', 'prompt') });
    await page.click('.preset-form button[type="submit"]');
    await page.waitForFunction(() => (document.getElementById('message') as HTMLTextAreaElement).value === 'Explain it as to a 14-year-old:');
    await page.selectOption('#preset', { label: label('Kind teacher', 'system') });
    await page.click('.preset-form button[type="submit"]');
    await page.waitForFunction(() => (document.getElementById('system') as HTMLTextAreaElement).value === 'You are a kind teacher.');
    expect(await page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed)).toBe(true);
    expect(await page.isVisible('#system')).toBe(true);
    // Without JavaScript: the GET form brings the page back filled.
    const plain = await browser.newContext({ ...options, javaScriptEnabled: false, storageState: await context.storageState() });
    try {
      const noJs = await plain.newPage();
      await noJs.goto(`${app.url}/c/${id}`);
      await noJs.selectOption('#preset', { label: label('Biology tutor', 'prompt') });
      await submit(noJs, '.preset-form button[type="submit"]');
      expect(await noJs.inputValue('#message')).toBe('Explain it as to a 14-year-old:');
    } finally {
      await plain.close();
    }
    await openSidebar(page);
    await page.click('#manage details:nth-of-type(2) summary');
    await auditPhonePage(page, `${where} chat with the picker and Download / Share`, found, found);

    // Downloads, named by the title (Chinese kept).
    const [md] = await Promise.all([page.waitForEvent('download'), page.click(`a[href="/c/${id}/export.md"]`)]);
    expect(md.suggestedFilename()).toBe(`${title.replace('?', '')}.md`); // ? is not allowed in a Windows file name; ？ is
    expect(fs.readFileSync((await md.path())!, 'utf8')).toContain('| Nucleus | Holds DNA |');
    const [json] = await Promise.all([page.waitForEvent('download'), page.click(`a[href="/c/${id}/export.json"]`)]);
    expect(JSON.parse(fs.readFileSync((await json.path())!, 'utf8')).conversation.messages[1].cost).toBe(42);

    // A share link, read signed out, then revoked.
    await page.fill('#display_name', 'Li Hua');
    await submit(page, `form[action="/c/${id}/share"] button[type="submit"]`);
    await auditPhonePage(page, `${where} shared links`, found, found);
    const link = await page.inputValue('.share-url');
    const reader = await visitor.newPage();
    reader.setDefaultTimeout(WAIT);
    const shown = await reader.goto(link);
    expect(shown!.headers()['x-robots-tag']).toBe('noindex, nofollow');
    expect(await reader.getAttribute('meta[name="robots"]', 'content')).toBe('noindex, nofollow');
    expect(await reader.textContent('main')).toContain('Li Hua');
    expect(await reader.textContent('main')).not.toContain(username);
    expect(await reader.isVisible('.markdown table')).toBe(true);
    // The date shared, in the browser's zone (local-time.js), and the note under the page names it.
    const sharedAt = (await reader.getAttribute('.shared .notice time', 'datetime'))!;
    const inAuckland = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Pacific/Auckland', dateStyle: 'short', timeStyle: 'short' }).format(new Date(sharedAt));
    await reader.waitForFunction((text) => document.querySelector('.shared .notice time')?.textContent === text, inAuckland);
    expect(await reader.textContent('#zone-note')).toContain('Pacific/Auckland');
    await auditPhonePage(reader, `${where} the shared page, signed out`, found, found);
    await submit(page, 'form[action$="/revoke"] button[type="submit"]');
    expect((await reader.goto(link))!.status()).toBe(404);

    // The admin's page for published presets.
    await app.sql.run(`UPDATE users SET role = 'admin' WHERE username = ?`, username);
    await page.goto(`${app.url}/admin/presets`);
    await page.fill('#new-name', 'Lab report');
    await page.fill('#new-body', 'Check my lab report.');
    await submit(page, 'form[action="/admin/presets"] button[type="submit"]');
    await page.click('.preset-list summary');
    await auditPhonePage(page, `${where} admin presets`, found, found);
    await app.sql.run('DELETE FROM presets WHERE user_id IS NULL');
  } finally {
    await context.close();
    await visitor.close();
  }
  expect(found).toEqual([]);
}, 120_000);
