// Sign-in with the organisation's account in a real browser (Chromium via playwright-core), on a
// 390 px phone in both languages: the sign-in page's provider button, the provider's own login page
// (oidc-provider on loopback), back signed in; the Sign-in methods page, the refusal page and the
// admin's /admin/oidc. axe-core finds nothing on tokenchat's pages; nothing scrolls sideways.
// Needs a Chromium binary: /usr/bin/chromium or $CHROMIUM_PATH.
import type { Browser } from 'playwright-core';
import { auditPhonePage, launchChromium, VIEWPORTS, WAIT } from './browser';
import { startTestServer, type TestServer } from '../helpers';
import { freePort, startProvider, type TestProvider } from '../oidc-fixture';

const PHONE = VIEWPORTS.find((v) => v.name === 'phone')!.options;

let browser: Browser;
let app: TestServer;
let op: TestProvider;

beforeAll(async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  op = await startProvider(`${url}/auth/oidc/school/callback`);
  app = await startTestServer({
    PORT: String(port), PUBLIC_URL: url,
    OIDC_PROVIDERS: JSON.stringify([{ id: 'school', issuer: op.issuer, clientId: 'tokenchat', clientSecret: 'tokenchat-secret', scopes: 'openid email profile groups', label: 'School', groupsClaim: 'groups' }]),
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await op?.close();
});

test('signing in through the provider\'s own login page on a phone, in both languages; axe finds nothing on tokenchat\'s pages', async () => {
  const found: string[] = [];
  const wide: string[] = [];
  for (const locale of ['en', 'zh-CN']) {
    const context = await browser.newContext({ ...PHONE, bypassCSP: true, locale, extraHTTPHeaders: { 'Accept-Language': locale } });
    try {
      const page = await context.newPage();
      page.setDefaultTimeout(WAIT);
      const check = (label: string) => auditPhonePage(page, `${locale} ${label}`, found, wide);
      const sub = `e2e-${locale}`;
      const username = `e2e_${locale === 'en' ? 'en' : 'zh'}`;
      op.accounts.set(sub, { email: `${username}@school.test`, email_verified: true, preferred_username: username, groups: [] });

      // A callback with no sign-in started: the refusal page.
      await page.goto(`${app.url}/auth/oidc/school/callback?code=x&state=y`);
      await page.getByRole('alert').waitFor();
      await check('refusal');

      await page.goto(`${app.url}/login`);
      await check('login');
      const button = page.getByRole('link', { name: locale === 'en' ? 'Sign in with School' : '使用 School 登录' });
      await button.tap();
      // The provider's own page: oidc-provider's login form.
      await page.waitForURL((u) => u.href.startsWith(op.issuer));
      await page.fill('input[name="login"]', sub);
      await page.fill('input[name="password"]', 'anything');
      await Promise.all([page.waitForURL(`${app.url}/`), page.tap('button[type="submit"]')]);
      expect(await page.content()).toContain(username);

      await page.goto(`${app.url}/account/sign-in`);
      await check('sign-in methods');
      await app.sql.run(`UPDATE users SET role = 'admin' WHERE username = ?`, username);
      await page.goto(`${app.url}/admin/oidc`);
      await check('admin oidc');
    } finally {
      await context.close();
    }
  }
  expect(found).toEqual([]);
  expect(wide).toEqual([]);
});
