// A group's system prompt in a real browser (Chromium via playwright-core), on a 390 px phone: an
// admin locks a prompt on the group's page (a plain form post, its error state seen first); the
// member's chat page shows it read-only under "Additional inputs", naming the group. axe-core finds
// nothing on either page in both languages; nothing scrolls sideways.
// Needs a Chromium binary: /usr/bin/chromium or $CHROMIUM_PATH.
import type { Browser, Page } from 'playwright-core';
import { auditPhonePage, launchChromium, registerIn, submit, VIEWPORTS, WAIT } from './browser';
import { startTestServer, type TestServer } from '../helpers';

const PHONE = VIEWPORTS.find((v) => v.name === 'phone')!.options;

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

test('an admin locks a group prompt on a phone; the member sees it read-only naming the group; axe finds nothing in either language', async () => {
  const found: string[] = [];
  const wide: string[] = [];
  for (const locale of ['en', 'zh-CN']) {
    const options = { ...PHONE, bypassCSP: true, locale, extraHTTPHeaders: { 'Accept-Language': locale } };
    const adminContext = await browser.newContext(options);
    const memberContext = await browser.newContext(options);
    try {
      const tag = `${locale === 'en' ? 'en' : 'zh'}_${Date.now().toString(36)}`;
      const check = (page: Page, label: string) => auditPhonePage(page, `${locale} ${label}`, found, wide);
      const admin = await adminContext.newPage();
      admin.setDefaultTimeout(WAIT);
      await registerIn(admin, app.url, `e2e_padmin_${tag}`);
      await app.sql.run(`UPDATE users SET role = 'admin' WHERE username = ?`, `e2e_padmin_${tag}`);
      const pupil = await memberContext.newPage();
      pupil.setDefaultTimeout(WAIT);
      await registerIn(pupil, app.url, `e2e_ppupil_${tag}`);
      const groupName = `Prompt ${tag}`;
      await app.sql.run('INSERT INTO groups (name) VALUES (?)', groupName);
      const groupId = await app.sql.value<number>('SELECT id FROM groups WHERE name = ?', groupName);
      const pupilId = await app.sql.value<number>('SELECT id FROM users WHERE username = ?', `e2e_ppupil_${tag}`);
      await app.sql.run('INSERT INTO group_members (group_id, user_id) VALUES (?, ?)', groupId, pupilId);

      await admin.goto(`${app.url}/admin/groups/${groupId}`);
      // Locked with no text: the error, tied to the field.
      await admin.check('#prompt-locked');
      await submit(admin, 'form[action$="/prompt"] button[type="submit"]');
      expect(await admin.isVisible('#system_prompt-error')).toBe(true);
      await check(admin, 'the prompt form with an error');
      await admin.fill('#system_prompt', 'Stay on the syllabus.');
      await submit(admin, 'form[action$="/prompt"] button[type="submit"]');
      expect(await admin.isVisible('#system_prompt-error')).toBe(false);
      await check(admin, 'the group with its prompt saved');

      await pupil.goto(`${app.url}/`);
      await pupil.click('details.additional summary');
      const box = pupil.locator('#system');
      expect(await box.inputValue()).toBe('Stay on the syllabus.');
      expect(await box.getAttribute('readonly')).not.toBeNull();
      expect(await pupil.textContent('#system-note')).toContain(groupName);
      await check(pupil, 'the chat page with a locked prompt');
    } finally {
      await adminContext.close();
      await memberContext.close();
    }
  }
  expect(found).toEqual([]);
  expect(wide).toEqual([]);
}, 120_000);
