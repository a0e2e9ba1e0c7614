// Onboarding pages in a real browser (Chromium via playwright-core), on a 390 px phone, in both
// languages, light and dark (issue 25): an admin's invite links (made, shown once) and API keys
// (made, shown once), the accounts waiting for approval, a waiting account's own page, the account
// page, and the register page when registration is by invite only or closed. axe-core finds
// nothing on any of them, and nothing scrolls sideways.
import type { Browser, Page } from 'playwright-core';
import { auditPhonePage, launchChromium, registerIn, submit, VIEWPORTS, WAIT } from './browser';
import { startTestServer, type TestServer } from '../helpers';

const PHONE = VIEWPORTS.find((v) => v.name === 'phone')!.options;

let browser: Browser;
let approval: TestServer;
let byInvite: TestServer;
let closed: TestServer;

beforeAll(async () => {
  [approval, byInvite, closed] = await Promise.all([
    startTestServer({ REGISTRATION_MODE: 'approval' }),
    startTestServer({ REGISTRATION_MODE: 'invite' }),
    startTestServer({ REGISTRATION_MODE: 'closed' }),
  ]);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([approval, byInvite, closed].map((s) => s?.close()));
});

test('invites, API keys, waiting accounts, the account page and a closed or invite-only register page: axe finds nothing in either language, light or dark', async () => {
  const found: string[] = [];
  const wide: string[] = [];
  let first = true;
  for (const colorScheme of ['light', 'dark'] as const) {
    for (const locale of ['en', 'zh-CN']) {
      const context = await browser.newContext({ ...PHONE, bypassCSP: true, colorScheme, locale, extraHTTPHeaders: { 'Accept-Language': locale } });
      try {
        const check = (page: Page, label: string) => auditPhonePage(page, `${colorScheme} ${locale} ${label}`, found, wide);
        const tag = `${colorScheme[0]}${locale === 'en' ? 'e' : 'z'}${Date.now().toString(36)}`;
        const page = await context.newPage();
        page.setDefaultTimeout(WAIT);

        // The first account on the approval server is its administrator; later ones wait.
        const admin = `e2e_oadmin_${tag}`;
        await registerIn(page, approval.url, admin);
        if (first) first = false;
        else await approval.sql.run(`UPDATE users SET role = 'admin', status = 'active' WHERE username = ?`, admin);

        await page.goto(`${approval.url}/admin/invites`);
        await check(page, 'the invites page');
        await page.fill('#uses', '30');
        await page.fill('#days', '7');
        await submit(page, 'form[action="/admin/invites"] button[type="submit"]');
        expect(await page.inputValue('#invite-url')).toMatch(/\/register\?invite=/);
        await check(page, 'an invite made');

        await page.goto(`${approval.url}/admin/api-keys`);
        await check(page, 'the API keys page');
        await page.fill('#name', 'roster script');
        await page.fill('#days', '30');
        await submit(page, 'form[action="/admin/api-keys"] button[type="submit"]');
        expect(await page.inputValue('#made-key')).toMatch(/^tca-/);
        await check(page, 'an API key made');

        await page.goto(`${approval.url}/account`);
        await check(page, 'the account page');

        // Someone registering now waits: their page says so, and the admin sees them waiting.
        const other = await context.browser()!.newContext({ ...PHONE, bypassCSP: true, colorScheme, locale, extraHTTPHeaders: { 'Accept-Language': locale } });
        try {
          const waiting = await other.newPage();
          waiting.setDefaultTimeout(WAIT);
          await waiting.goto(`${approval.url}/register`);
          await waiting.fill('#username', `e2e_wait_${tag}`);
          await waiting.fill('#password', 'correct horse battery');
          await waiting.fill('#confirm', 'correct horse battery');
          await submit(waiting, 'form[action="/register"] button[type="submit"]');
          await check(waiting, 'an account waiting for approval');
        } finally {
          await other.close();
        }
        await page.goto(`${approval.url}/admin/users/waiting`);
        expect(await page.textContent('main')).toContain(`e2e_wait_${tag}`);
        await check(page, 'the accounts waiting');

        await page.goto(`${byInvite.url}/register`);
        await check(page, 'register without an invite');
        await page.goto(`${byInvite.url}/register?invite=${'x'.repeat(32)}`);
        await check(page, 'an invite link that does not exist');
        await page.goto(`${closed.url}/register`);
        await check(page, 'registration closed');
        await page.goto(`${closed.url}/login`);
        expect(await page.locator('a[href="/register"]').count()).toBe(0);
        await check(page, 'the sign-in page with registration closed');
      } finally {
        await context.close();
      }
    }
  }
  expect(found).toEqual([]);
  expect(wide).toEqual([]);
}, 240_000);
