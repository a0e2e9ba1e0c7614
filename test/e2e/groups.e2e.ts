// The groups admin pages in a real browser (Chromium via playwright-core), on a 390 px phone: an
// admin creates a group, adds a member found by the search and sets the group's models and price,
// with plain form posts; axe-core finds nothing on the groups pages in both languages, light and
// dark; no page scrolls sideways. Needs a Chromium binary: /usr/bin/chromium or $CHROMIUM_PATH.
import type { Browser } from 'playwright-core';
import { auditPhonePage, launchChromium, registerIn, submit, VIEWPORTS, WAIT } from './browser';
import { startTestServer, type TestServer } from '../helpers';

const PHONE = VIEWPORTS.find((v) => v.name === 'phone')!.options;

let browser: Browser;
let app: TestServer;

beforeAll(async () => {
  // A model API key (never called), so the rules form lists the models file's chat and embedding models.
  app = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

const stamp = () => Date.now().toString(36);

/** Signs up a second user in a context of its own, so the admin has someone to add. */
async function someoneElse(name: string): Promise<void> {
  const context = await browser.newContext();
  try {
    await registerIn(await context.newPage(), app.url, name);
  } finally {
    await context.close();
  }
}

/** Submits the form `button` is in and waits for the page the server answers with. */
test('an admin creates a group, adds a member and sets its models on a phone; axe finds nothing in either language, light or dark; nothing scrolls sideways', async () => {
  const found: string[] = [];
  const wide: string[] = [];
  for (const colorScheme of ['light', 'dark'] as const) {
    for (const locale of ['en', 'zh-CN']) {
      // bypassCSP: axe is injected as a script the page's CSP would rightly refuse.
      const context = await browser.newContext({ ...PHONE, bypassCSP: true, colorScheme, locale, extraHTTPHeaders: { 'Accept-Language': locale } });
      try {
        const page = await context.newPage();
        page.setDefaultTimeout(WAIT);
        const check = (label: string) => auditPhonePage(page, `${colorScheme} ${locale} ${label}`, found, wide);
        const tag = `${colorScheme}_${locale === 'en' ? 'en' : 'zh'}_${stamp()}`;
        const adminName = `e2e_gadmin_${tag}`;
        await registerIn(page, app.url, adminName);
        await app.sql.run(`UPDATE users SET role = 'admin' WHERE username = ?`, adminName);
        const pupil = `e2e_pupil_${tag}_`.padEnd(32, 'W'); // as long as a username may be, in wide letters: its row must wrap, not widen the page
        await someoneElse(pupil);

        // Create: the list page, then the new group's page.
        await page.goto(`${app.url}/admin/groups`);
        await check('/admin/groups');
        const groupName = `Class ${tag}`.slice(0, 60);
        await page.fill('#name', groupName);
        await submit(page, 'form[action="/admin/groups"] button[type="submit"]');
        expect(await page.textContent('h1')).toBe(groupName);
        await check('a new group');

        // Add a member: search, tick, Add.
        await page.fill('#q', pupil);
        await submit(page, 'form[role="search"] button[type="submit"]');
        await check('the search results');
        await page.check(`label:has-text("${pupil}")`);
        await submit(page, 'form[action$="/members/add"] button[type="submit"]');
        expect(await page.isVisible(`form[action$="/members/remove"] label:has-text("${pupil}")`)).toBe(true);

        // Its models: only GPT-4o mini and an embedding model, at half price.
        await page.check('#scope-listed');
        await page.check('input[name="models"][value="gpt-4o-mini"]');
        await page.check('input[name="models"][value="text-embedding-3-small"]');
        await page.fill('#price_percent', '50');
        await submit(page, 'form[action$="/rules"] button[type="submit"]');
        await check('the group after its rules were saved');
        const group = await app.sql.get<{ id: number; models: string; percent: number }>('SELECT id, models, price_percent AS percent FROM groups WHERE name = ?', groupName);
        expect(group).toMatchObject({ models: '["gpt-4o-mini","text-embedding-3-small"]', percent: 50 });
        const members = await app.sql.all('SELECT u.username FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = ?', group!.id);
        expect(members).toEqual([{ username: pupil }]);

        // A form with errors, and the delete confirmation, are checked too (once per language and scheme).
        await page.fill('#price_percent', '5000');
        await submit(page, 'form[action$="/rules"] button[type="submit"]');
        expect(await page.isVisible('#price_percent-error')).toBe(true);
        await check('the rules form with an error');
        await submit(page, 'form[action$="/delete"] button[type="submit"]');
        await check('the delete confirmation');
        await page.goto(`${app.url}/admin/groups/${String(await app.sql.value('SELECT id FROM groups WHERE builtin = 1'))}`);
        await check('Everyone');
      } finally {
        await context.close();
      }
    }
  }
  expect(found).toEqual([]);
  expect(wide).toEqual([]);
}, 120_000);
