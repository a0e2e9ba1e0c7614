// The rest of the defects a teacher met (issue 26: 7, 8, 10), in a real browser (Chromium via
// playwright-core): actions that cut someone off ask first; the keys page's boxes and Copy key;
// codes made say so; too few tokens is a linked warning; the register form survives a language
// switch; admin usage tables fit at 1280 px; times in the reader's zone, with and without
// JavaScript; a send without JavaScript comes back at once and follows its answer; and axe
// (WCAG 2.2 AA and best practices, landmark-unique included) finds nothing on every page touched,
// in both languages, light and dark, on a 390 px phone.
// Needs a Chromium binary: /usr/bin/chromium (Debian's `chromium` package) or $CHROMIUM_PATH.
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { gate, startFakeUpstream, type FakeUpstream } from '../fake-upstream';
import { auditPhonePage, axeViolations, launchChromium, registerIn, VIEWPORTS, WAIT, within } from './browser';
import { startTestServer, type TestServer } from '../helpers';
import { wallClock } from '../../src/http/clock';
import { grantTokens } from '../../src/admin/actions';

const PHONE = VIEWPORTS[1]!.options;
const DESKTOP = VIEWPORTS[0]!.options;

let browser: Browser;
let app: TestServer;
let upstream: FakeUpstream;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  app = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: upstream.url, DEMO_DELAY_MS: '0', SIGNUP_BONUS: '5000', LOGIN_RATE_LIMIT_PER_IP: '10000' });
  browser = await launchChromium();
  // The first account is the administrator: made here so every test's users are members.
  const context = await browser.newContext(DESKTOP);
  await registerIn(await context.newPage(), app.url, 'e2e2_admin');
  await context.close();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await upstream?.close();
});

/** page.goto, once more if a navigation the page itself started (htmx's, a refresh) aborted it. */
async function open(page: Page, url: string): Promise<void> {
  try {
    await page.goto(url);
  } catch (err) {
    if (!String(err).includes('ERR_ABORTED')) throw err;
    await page.goto(url);
  }
}

/** A context of its own signed in as a new user (`admin`: made an administrator), closed after `fn`. */
async function asUser(prefix: string, fn: (page: Page, ctx: { context: BrowserContext; username: string }) => Promise<void>, opts: { context?: BrowserContextOptions; admin?: boolean } = {}) {
  const context = await browser.newContext({ bypassCSP: true, ...(opts.context ?? DESKTOP) });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    const username = `${prefix}_${Date.now().toString(36)}`;
    await registerIn(page, app.url, username);
    if (opts.admin) await app.sql.run(`UPDATE users SET role = 'admin' WHERE username = ?`, username);
    await fn(page, { context, username });
  } finally {
    await context.close();
  }
}

describe('every page touched, audited (defect 7: landmark-unique and the rest)', () => {
  test('axe finds nothing, best practices included, in both languages, light and dark, on a 390 px phone; nothing scrolls sideways', () => asUser('e2e2_audit', async (page, { context, username }) => {
    upstream.script({ kind: 'stream', pieces: ['An answer', ' with a time.'] });
    await page.fill('#message', 'A question');
    await page.tap('#submit');
    await page.locator('#transcript article.msg-assistant .msg-meta strong').waitFor();
    const conversation = page.url();
    await page.goto(`${app.url}/keys`);
    await page.fill('#name', 'audit key');
    await page.tap('form[action="/keys"] button[type="submit"]');
    await page.locator('#made-key').waitFor();
    const userId = Number(await app.sql.value('SELECT id FROM users WHERE username = ?', username));
    const paths = [
      conversation, '/', '/usage', '/usage/ledger', '/recharge', '/keys', '/account', '/admin', '/admin/users', `/admin/users/${userId}`, '/admin/codes',
      '/admin/usage', '/admin/audit', '/admin/providers', '/admin/invites', '/admin/api-keys', '/admin/groups',
    ];
    const found: string[] = [];
    const wide: string[] = [];
    for (const lang of ['en', 'zh-CN']) {
      await context.addCookies([{ name: 'lang', value: lang, url: app.url }]);
      for (const scheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        for (const path of paths) {
          await open(page, path.startsWith('http') ? path : `${app.url}${path}`);
          await auditPhonePage(page, `${lang} ${scheme} ${path}`, found, wide);
        }
      }
    }
    expect(found).toEqual([]);
    expect(wide).toEqual([]);
  }, { context: PHONE, admin: true }), 240_000);
});

describe('admin usage tables at 1280 px (defect 7)', () => {
  test('every table on the usage pages shows all its columns, Charged included, without scrolling sideways', () => asUser('e2e2_wide', async (page) => {
    upstream.script({ kind: 'stream', pieces: ['Something', ' to count.'] });
    await page.fill('#message', 'Count me');
    await page.press('#message', 'Enter');
    await page.locator('#transcript article.msg-assistant .msg-meta strong').waitFor();
    const clipped: string[] = [];
    for (const path of ['/admin/usage', '/usage', '/admin/usage/groups']) {
      await page.goto(`${app.url}${path}`);
      clipped.push(...await page.evaluate((where) => Array.from(document.querySelectorAll('.table-scroll')).flatMap((box) => {
        const name = box.closest('section')?.querySelector('h2')?.textContent?.trim() ?? '?';
        return box.scrollWidth > box.clientWidth + 1 ? [`${where} "${name}": ${box.scrollWidth}px in ${box.clientWidth}px`] : [];
      }), path));
    }
    expect(clipped).toEqual([]);
  }, { admin: true }));
});

const NO_JS = (options: BrowserContextOptions): BrowserContextOptions => ({ ...options, javaScriptEnabled: false });
const userId = async (username: string) => Number(await app.sql.value('SELECT id FROM users WHERE username = ?', username));
const adminId = () => userId('e2e2_admin');

describe('without JavaScript a send comes back at once (defect 10)', () => {
  test('the conversation shows the text so far, reloads itself, offers Stop beside the answer; Stop stops it; done, it stops reloading', () => asUser('e2e2_nojs', async (page) => {
    for (const lang of ['en', 'zh-CN']) {
      if (lang === 'zh-CN') {
        await page.click('button[name="lang"][value="zh-CN"]');
        await page.goto(`${app.url}/`);
      }
      const g = gate();
      upstream.script({ kind: 'stream', pieces: ['Slowly', ' written', ' answer.'], gate: g, gateAfter: 1 });
      await page.fill('#message', `Write slowly (${lang})`);
      await page.tap('#submit');
      // Back while the model is still held: a page at once, not a frozen one.
      await within(g.reached, 'the model was not called');
      await page.waitForURL(/\/c\/\d+(#m\d+)?$/);
      const answer = page.locator('#transcript article.msg-assistant').last();
      await answer.locator('.msg-body', { hasText: 'Slowly' }).waitFor(); // it reloads itself until the text so far is there
      expect(await page.locator('meta[http-equiv="refresh"]').count()).toBe(1);
      const stop = answer.locator('noscript form[action="/stop"] button');
      expect(await stop.isVisible()).toBe(true);
      await Promise.all([page.waitForURL(/\/c\/\d+$/), stop.tap()]); // Stop's answer: the conversation, no fragment
      g.release();
      await answer.locator('.msg-alert', { hasText: lang === 'en' ? 'Stopped.' : '已停止' }).waitFor({ timeout: 8000 });
      expect(await page.locator('meta[http-equiv="refresh"]').count()).toBe(0);
      expect(await answer.textContent()).not.toContain('written');

      // An answer left to finish: the page follows it to its end, then stays still.
      const h = gate();
      upstream.script({ kind: 'stream', pieces: ['All', ' of', ' it.'], gate: h, gateAfter: 1 });
      await page.fill('#message', 'Finish this one');
      await page.tap('#submit');
      await within(h.reached, 'the model was not called');
      await page.locator('meta[http-equiv="refresh"]').waitFor({ state: 'attached' });
      h.release();
      await page.locator('#transcript article.msg-assistant .msg-body', { hasText: 'All of it.' }).waitFor({ timeout: 8000 });
      await page.locator('#transcript article.msg-assistant .msg-meta strong').last().waitFor();
      expect(await page.locator('meta[http-equiv="refresh"]').count()).toBe(0);
    }
  }, { context: NO_JS(PHONE) }), 60_000);

  test('with JavaScript the same page follows the answer live instead of reloading, and axe finds nothing on it', () => asUser('e2e2_live', async (page) => {
    const g = gate();
    upstream.script({ kind: 'stream', pieces: ['Live', ' and', ' well.'], gate: g, gateAfter: 1 });
    await page.fill('#message', 'Follow me');
    await page.tap('#submit');
    await within(g.reached, 'the model was not called');
    await page.waitForURL(/\/c\/\d+$/);
    await page.reload(); // a page that comes back to the answer while it is written
    await page.locator('#transcript article.msg-assistant .msg-body', { hasText: 'Live' }).waitFor();
    expect(await page.locator('meta[http-equiv="refresh"]').count()).toBe(0); // inside <noscript>: not a meta with JavaScript on
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      expect(await axeViolations(page)).toEqual([]);
    }
    g.release();
    await page.locator('#transcript article.msg-assistant .msg-body', { hasText: 'Live and well.' }).waitFor();
  }, { context: PHONE }));
});

describe("times in the reader's zone (defect 8)", () => {
  const firstTime = (page: Page) => page.locator('main time[data-t]').first();

  test("with JavaScript the browser's zone, said so; an account's own zone wins; in both languages", () => asUser('e2e2_zone', async (page, { context }) => {
    upstream.script({ kind: 'stream', pieces: ['Timed.'] });
    await page.fill('#message', 'What time is it?');
    await page.tap('#submit');
    await page.locator('#transcript article.msg-assistant .msg-meta strong').waitFor();
    const message = page.locator('#transcript time.msg-time').last();
    const at = (await message.getAttribute('datetime'))!;
    expect(await message.textContent()).toBe(wallClock(at, 'Asia/Shanghai', 'time')); // rewritten as it arrived
    await page.goto(`${app.url}/usage/ledger`);
    const iso = (await firstTime(page).getAttribute('datetime'))!;
    expect(await firstTime(page).textContent()).toBe(wallClock(iso, 'Asia/Shanghai', 'seconds'));
    expect(await page.locator('#zone-note').textContent()).toContain("Times are in your browser's time zone, Asia/Shanghai.");
    await context.addCookies([{ name: 'lang', value: 'zh-CN', url: app.url }]);
    await page.reload();
    expect(await page.locator('#zone-note').textContent()).toContain('时间按浏览器的时区（Asia/Shanghai）显示。');
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      expect(await axeViolations(page)).toEqual([]);
    }
    // A zone chosen on the account page: the browser's no longer replaces it.
    await page.goto(`${app.url}/account`);
    expect(await axeViolations(page)).toEqual([]);
    await page.selectOption('#zone', 'America/New_York');
    await Promise.all([page.waitForURL(/done=time-zone/), page.tap('form[action="/account/time-zone"] button[type="submit"]')]);
    expect(await page.locator('p.notice[role="status"]').textContent()).toContain('时区已保存');
    await page.goto(`${app.url}/usage/ledger`);
    expect(await firstTime(page).textContent()).toBe(wallClock(iso, 'America/New_York', 'seconds'));
    expect(await page.locator('#zone-note').textContent()).toContain('America/New_York');
  }, { context: { ...PHONE, timezoneId: 'Asia/Shanghai' } }));

  test("without JavaScript the organisation's zone, said so, with a link to change it", () => asUser('e2e2_zone_nojs', async (page) => {
    await page.goto(`${app.url}/usage/ledger`);
    const note = (await page.locator('#zone-note').textContent())!;
    const zone = /Times are in (\S+)\./.exec(note)![1]!;
    const iso = (await firstTime(page).getAttribute('datetime'))!;
    expect(await firstTime(page).textContent()).toBe(wallClock(iso, zone, 'seconds'));
    await page.tap('#zone-note a');
    await page.waitForURL(/\/account#time-zone-title$/);
    await page.selectOption('#zone', 'Asia/Kolkata');
    await Promise.all([page.waitForURL(/done=time-zone/), page.tap('form[action="/account/time-zone"] button[type="submit"]')]);
    await page.goto(`${app.url}/usage/ledger`);
    expect(await firstTime(page).textContent()).toBe(wallClock(iso, 'Asia/Kolkata', 'seconds'));
    expect(await page.locator('#zone-note').textContent()).toContain('Times are in Asia/Kolkata.');
  }, { context: NO_JS({ ...PHONE, timezoneId: 'Asia/Shanghai' }) }));
});

describe('actions that cut someone off ask first (defect 7)', () => {
  for (const js of [true, false]) {
    test(`codes made say so and empty the form; voiding a batch and disabling an account ask on a page of their own, Cancel changes nothing (JavaScript ${js ? 'on' : 'off'})`, () => asUser(`e2e2_confirm_${js ? 'js' : 'nojs'}`, async (page, { context, username }) => {
      await page.goto(`${app.url}/admin/codes`);
      await page.fill('#tokens', '300');
      await page.fill('#count', '2');
      await Promise.all([page.waitForURL(/\/admin\/codes$/), page.tap('form[action="/admin/codes"] button[type="submit"]')]);
      expect(await page.locator('#made-title').textContent()).toMatch(/Batch #\d+ made: 2 codes of 300 tokens each\./);
      expect(await page.inputValue('#tokens')).toBe('');
      expect(await page.locator('a[download^="tokenchat-codes-batch-"]').count()).toBe(1);
      const audit = async () => (js ? axeViolations(page) : []); // axe runs as a script: on pages with JavaScript
      expect(await audit()).toEqual([]);
      // A reload resends the form: no second batch, and the page says so.
      const batches = await app.sql.value('SELECT count(*) FROM code_batches');
      const reloaded = await page.reload();
      expect(reloaded!.status()).toBe(409);
      expect(await page.locator('p.notice[role="status"]').textContent()).toContain('This form was already sent and its batch was made then: nothing new was created.');
      expect(await app.sql.value('SELECT count(*) FROM code_batches')).toBe(batches);
      expect(await audit()).toEqual([]);
      await page.goto(`${app.url}/admin/codes`);
      await Promise.all([page.waitForURL(/\/void$/), page.locator('form[action$="/void"] button').first().tap()]);
      expect(await page.locator('#confirm-title').textContent()).toMatch(/^Void the unused codes of batch #\d+\?$/);
      for (const scheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        expect(await audit()).toEqual([]);
      }
      await Promise.all([page.waitForURL(/done=batch&n=2/), page.tap('#confirm-title ~ form button[type="submit"]')]);

      const other = await browser.newContext(DESKTOP);
      const target = `e2e2_target_${js ? 'js' : 'nojs'}`;
      await registerIn(await other.newPage(), app.url, target);
      await other.close();
      await page.goto(`${app.url}/admin/users/${await userId(target)}`);
      await Promise.all([page.waitForURL(/\/disable$/), page.tap('form[action$="/disable"] button')]);
      expect(await page.locator('#confirm-title').textContent()).toBe(`Disable the account ${target}?`);
      await page.tap('text=Cancel');
      await page.waitForURL(new RegExp(`/admin/users/${await userId(target)}$`));
      expect(await app.sql.value('SELECT disabled FROM users WHERE username = ?', target)).toBe(0);
      expect(username).toBeTruthy();
      await context.addCookies([{ name: 'lang', value: 'zh-CN', url: app.url }]);
      await Promise.all([page.waitForURL(/\/disable$/), page.tap('form[action$="/disable"] button')]);
      expect(await page.locator('#confirm-title').textContent()).toBe(`停用账户 ${target}？`);
      expect(await audit()).toEqual([]);
      await Promise.all([page.waitForURL(/done=disabled/), page.tap('#confirm-title ~ form button[type="submit"]')]);
      expect(await app.sql.value('SELECT disabled FROM users WHERE username = ?', target)).toBe(1);
    }, { context: js ? PHONE : NO_JS(PHONE), admin: true }));
  }
});

describe('the keys page (defect 7)', () => {
  test("a model's box sits beside its name; a new key copies with one press, saying so to a screen reader", () => asUser('e2e2_keys', async (page) => {
    await page.goto(`${app.url}/keys`);
    const boxes = await page.locator('fieldset label.check').evaluateAll((labels) => labels.map((label) => {
      const box = label.querySelector('input')!.getBoundingClientRect();
      const range = document.createRange();
      range.selectNodeContents(label);
      const text = Array.from(range.getClientRects()).filter((r) => r.left >= box.right - 1)[0] ?? box;
      return { gap: Math.round(text.left - box.right), rows: Math.abs((box.top + box.bottom) / 2 - (text.top + text.bottom) / 2) < 12 };
    }));
    expect(boxes.length).toBeGreaterThan(0);
    for (const b of boxes) expect(b.gap).toBeLessThan(24);
    for (const b of boxes) expect(b.rows).toBe(true);
    await page.fill('#name', 'copied key');
    await page.click('form[action="/keys"] button[type="submit"]');
    await page.locator('#made-key').waitFor();
    const key = await page.inputValue('#made-key');
    await page.click('button.copy-answer[data-copied-status="made-key-copied"]');
    await page.waitForFunction(() => document.getElementById('made-key-copied')?.textContent === 'Copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      expect(await axeViolations(page)).toEqual([]);
    }
  }, { context: { ...DESKTOP, permissions: ['clipboard-read', 'clipboard-write'] } }));
});

describe('too few tokens (defect 7)', () => {
  test('the refusal is a warning linking to the Recharge page, in both languages, light and dark', () => asUser('e2e2_poor', async (page, { context, username }) => {
    await app.database.write(grantTokens, await adminId(), await userId(username), -4990, 'e2e: nearly empty');
    await page.reload();
    for (const lang of ['en', 'zh-CN']) {
      await context.addCookies([{ name: 'lang', value: lang, url: app.url }]);
      await page.goto(`${app.url}/`);
      await page.fill('#message', 'A question I cannot afford, with a long enough text to need more tokens than I have left.');
      await page.tap('#submit');
      const warning = page.locator('p.notice-warning[role="alert"]');
      await warning.waitFor();
      expect(await warning.locator('a[href="/recharge"]').textContent()).toBe(lang === 'en' ? 'Redeem a code on the Recharge page' : '在“充值”页面兑换充值码');
      for (const scheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        expect(await axeViolations(page)).toEqual([]);
      }
    }
    await Promise.all([page.waitForURL(/\/recharge$/), page.locator('p.notice-warning a').tap()]);
  }, { context: PHONE }));
});

describe('the register form across a language switch (defect 7)', () => {
  for (const js of [true, false]) {
    test(`keeps the name typed, never the passwords (JavaScript ${js ? 'on' : 'off'})`, async () => {
      const context = await browser.newContext({ bypassCSP: true, ...(js ? PHONE : NO_JS(PHONE)) });
      try {
        const page = await context.newPage();
        await page.goto(`${app.url}/register`);
        await page.fill('#username', 'grace hopper');
        await page.fill('#password', 'a long password');
        await page.fill('#confirm', 'a long password');
        await Promise.all([page.waitForURL(/\/register\?username=grace\+hopper$/), page.tap('button[name="lang"][value="zh-CN"]')]);
        expect(await page.getAttribute('html', 'lang')).toBe('zh-CN');
        expect(await page.inputValue('#username')).toBe('grace hopper');
        expect(await page.inputValue('#password')).toBe('');
        if (js) for (const scheme of ['light', 'dark'] as const) {
          await page.emulateMedia({ colorScheme: scheme });
          expect(await axeViolations(page)).toEqual([]);
        }
      } finally {
        await context.close();
      }
    });
  }
});
