// Roster import and the account page in a real browser (Chromium via playwright-core), on a 390 px
// phone in both languages: a refused file (its error tied to the field), the dry run's table, the
// applied result with its download button; then a generated account's forced change of password.
// axe-core finds nothing on any of them, and nothing scrolls sideways.
// Needs a Chromium binary: /usr/bin/chromium or $CHROMIUM_PATH.
import fs from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { auditPhonePage, launchChromium, registerIn, submit, VIEWPORTS, WAIT } from './browser';
import { startTestServer, type TestServer } from '../helpers';

const PHONE = VIEWPORTS.find((v) => v.name === 'phone')!.options;

let browser: Browser;
let app: TestServer;

beforeAll(async () => {
  app = await startTestServer();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

test('an admin imports a roster on a phone, and a generated account must change its password first; axe finds nothing in either language', async () => {
  const found: string[] = [];
  const wide: string[] = [];
  for (const locale of ['en', 'zh-CN']) {
    const options = { ...PHONE, bypassCSP: true, locale, extraHTTPHeaders: { 'Accept-Language': locale }, acceptDownloads: true };
    const adminContext = await browser.newContext(options);
    const pupilContext = await browser.newContext(options);
    try {
      const tag = `${locale === 'en' ? 'en' : 'zh'}_${Date.now().toString(36)}`;
      const check = (page: Page, label: string) => auditPhonePage(page, `${locale} ${label}`, found, wide);
      const admin = await adminContext.newPage();
      admin.setDefaultTimeout(WAIT);
      await registerIn(admin, app.url, `e2e_radmin_${tag}`);
      await app.sql.run(`UPDATE users SET role = 'admin' WHERE username = ?`, `e2e_radmin_${tag}`);
      const groupName = `Roster ${tag}`;
      await app.sql.run('INSERT INTO groups (name) VALUES (?)', groupName);
      const groupId = await app.sql.value<number>('SELECT id FROM groups WHERE name = ?', groupName);

      await admin.goto(`${app.url}/admin/groups/${groupId}`);
      await check(admin, 'the group page with the import form');
      // A file chosen is read into the box, exactly as it would be pasted (its byte order mark dropped).
      await admin.setInputFiles('#roster-file', { name: 'class.csv', mimeType: 'text/csv', buffer: Buffer.from('\uFEFFusername\nfrom_file\n') });
      await admin.waitForFunction(() => (document.getElementById('roster-text') as HTMLTextAreaElement).value === 'username\nfrom_file\n');
      await admin.fill('#roster-text', 'name,mail\nx,y');
      await submit(admin, 'form[action$="/roster/check"] button[type="submit"]');
      expect(await admin.isVisible('#roster-error')).toBe(true);
      await check(admin, 'a refused roster');
      const pupil = `pupil_${tag}`;
      await admin.fill('#roster-text', `username,display name,email\n${pupil},"<b>=1+1</b>",p@school.example\nx,,\n${pupil},,`);
      await submit(admin, 'form[action$="/roster/check"] button[type="submit"]');
      expect(await admin.locator('table tbody tr').count()).toBe(3);
      await check(admin, 'the dry run');
      await submit(admin, 'form[action$="/roster/apply"] button[type="submit"]');
      await check(admin, 'the applied roster');
      const [download] = await Promise.all([admin.waitForEvent('download'), admin.click('form[action$="/roster/passwords"] button[type="submit"]')]);
      const csv = fs.readFileSync((await download.path())!, 'utf8');
      const password = csv.split('\r\n')[1]!.split(',')[1]!;
      expect(password).toHaveLength(16);

      const page = await pupilContext.newPage();
      page.setDefaultTimeout(WAIT);
      await page.goto(`${app.url}/login`);
      await page.fill('#username', pupil);
      await page.fill('#password', password);
      await submit(page, 'form[action="/login"] button[type="submit"]');
      expect(new URL(page.url()).pathname).toBe('/account/password');
      await check(page, 'the forced change of password');
      await page.fill('#current', 'not it at all');
      await page.fill('#password', 'my own password now');
      await page.fill('#confirm', 'my own password now');
      await submit(page, 'form[action="/account/password"] button[type="submit"]');
      expect(await page.isVisible('#current-error')).toBe(true);
      await check(page, 'a wrong current password');
      await page.fill('#current', password);
      await page.fill('#password', 'my own password now');
      await page.fill('#confirm', 'my own password now');
      await submit(page, 'form[action="/account/password"] button[type="submit"]');
      expect(new URL(page.url()).pathname).toBe('/account');
      await check(page, 'the account page, changed');
    } finally {
      await adminContext.close();
      await pupilContext.close();
    }
  }
  expect(found).toEqual([]);
  expect(wide).toEqual([]);
}, 120_000);
