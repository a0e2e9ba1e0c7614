// The chat page in a real browser (Chromium via playwright-core), at a desktop and a phone
// viewport: sign-up, sending with the keyboard, streaming, charges, Stop, the sidebar after a
// reload, and model output that must stay inert. The app runs on loopback against the fake model
// API (test/fake-upstream.ts), whose gates pause a stream so partial states can be checked.
// Needs a Chromium binary: /usr/bin/chromium (Debian's `chromium` package) or $CHROMIUM_PATH.
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { gate, startFakeUpstream, type FakeUpstream } from '../fake-upstream';
import { axeViolations, launchChromium, registerIn, type NewUser, VIEWPORTS, WAIT, within, withNewUser } from './browser';
import { startFakeStripe, type FakeStripe } from '../fake-stripe';
import { startTestServer, type TestServer } from '../helpers';
import { createBatch } from '../../src/admin/actions';
import { balanceOf, grant } from '../../src/ledger/ledger';
import { createOrder } from '../../src/payments/orders';
import { loadPackages } from '../../src/payments/packages';
import { loadModels, priceOf } from '../../src/metering/models';

const SHOTS = path.join(__dirname, '..', '..', 'test-results', 'screenshots');
// With a model API key the first model listed but demo is the default: 1 per prompt and 4 per completion token.
const DEFAULT_MODEL = loadModels().find('gpt-4o-mini')!;
const DELAY_MS = 30; // the fake model's pause before each chunk

let browser: Browser;
let app: TestServer;
let upstream: FakeUpstream;
let stripe: FakeStripe;
// Paying is set up (against a local fake Stripe API), so the packages and the orders pages are checked too.
const PACKAGES = path.join(__dirname, '..', '..', 'packages.example.json');

beforeAll(async () => {
  fs.rmSync(SHOTS, { recursive: true, force: true }); // only this run's failures
  upstream = await startFakeUpstream();
  stripe = await startFakeStripe();
  app = await startTestServer({
    OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: upstream.url, DEMO_DELAY_MS: '0',
    STRIPE_SECRET_KEY: 'sk_test_e2e', STRIPE_WEBHOOK_SECRET: 'whsec_e2e', PUBLIC_URL: 'https://chat.example.com', PACKAGES_FILE: PACKAGES, STRIPE_API_URL: stripe.url,
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await upstream?.close();
  await stripe?.close();
});

/** A test's own browser context (a desktop unless `context` says otherwise) signed up as a new user `<prefix>_<time>`; closed after `fn`. */
const asNewUser = (prefix: string, fn: (page: Page, user: NewUser) => Promise<void>, opts: { context?: BrowserContextOptions; how?: 'tap' | 'click' } = {}) =>
  withNewUser(browser, app.url, prefix, fn, opts);

/** Makes the user an admin with a batch of codes, so the admin pages have something to show. */
async function promote(username: string, note: string): Promise<number> {
  const adminId = (await app.sql.value(`UPDATE users SET role = 'admin' WHERE username = ? RETURNING id`, username)) as number;
  await createBatch(app.database, adminId, { tokens: 500, count: 3, note });
  return adminId;
}

/** A pending order of the user's (as Pay makes before Checkout), so the orders pages have a row. */
async function anOrder(userId: number): Promise<number> {
  const pkg = loadPackages(PACKAGES).packages.find((p) => p.active)!;
  return (await app.database.write(createOrder, userId, pkg, pkg.name.en!, `e2e-${userId}`, new Date(Date.now() + 3_600_000).toISOString())).id;
}

/** Digits of a figure shown with thousands separators ("Balance: 2,000" -> 2000). */
const figure = (text: string | null, pattern: RegExp): number => {
  const m = pattern.exec(text ?? '');
  if (!m) throw new Error(`no ${pattern} in ${JSON.stringify(text)}`);
  return Number(m[1]!.replace(/[^\d]/g, ''));
};

describe.each(VIEWPORTS)('chat page on $name', ({ name, options }) => {
  let context: BrowserContext;
  let page: Page;
  const errors: string[] = []; // console errors and uncaught exceptions
  const logoutRequests: string[] = [];
  const username = `e2e_${name}_${Date.now().toString(36)}`;
  const touch = options.hasTouch === true;
  const press = (selector: string) => (touch ? page.tap(selector) : page.click(selector));

  beforeAll(async () => {
    context = await browser.newContext(options);
    page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(msg.text());
    });
    page.on('pageerror', (err) => errors.push(`uncaught: ${err.message}`));
    page.on('response', (res) => {
      if (res.status() >= 400) errors.push(`HTTP ${res.status()} ${res.request().method()} ${res.url()}`);
    });
    page.on('request', (req) => {
      if (new URL(req.url()).pathname.startsWith('/logout')) logoutRequests.push(`${req.method()} ${req.url()}`);
    });
  });

  afterAll(async () => {
    await context?.close();
  });

  /** A test that screenshots the page when it fails and fails on any htmx console error. */
  const step = (title: string, fn: () => Promise<void>) =>
    test(title, async () => {
      try {
        await fn();
        const htmxErrors = errors.filter((e) => /htmx/i.test(e));
        expect(htmxErrors).toEqual([]);
      } catch (err) {
        fs.mkdirSync(SHOTS, { recursive: true });
        const file = path.join(SHOTS, `${name}-${title.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`);
        await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
        if (errors.length) console.error(`console errors on ${name}:\n${errors.join('\n')}`);
        throw err;
      } finally {
        errors.length = 0;
      }
    });

  const balance = async () => figure(await page.textContent('#balance'), /([\d,]+)/);
  const lastAssistant = () => page.locator('#transcript article.msg-assistant').last();

  const answers = () => page.locator('#transcript article.msg-assistant').count();

  /** Resolves once the transcript shows more than `count` assistant messages. */
  async function answerShown(count: number): Promise<void> {
    await page.waitForFunction((n) => document.querySelectorAll('#transcript article.msg-assistant').length > n, count, { timeout: WAIT });
  }

  /** Types `text` in the composer and presses Enter; resolves once its answer has appeared. */
  async function send(text: string): Promise<void> {
    const count = await answers();
    const box = page.locator('#message');
    if (touch) await box.tap();
    else await box.click();
    await box.fill(text);
    // A phone's Enter adds a line; there the Submit button sends.
    if (touch) await page.tap('#submit');
    else await box.press('Enter');
    await answerShown(count);
  }

  /** Waits for the last assistant message to settle; returns its charge and its text. */
  async function settled(): Promise<{ charge: number; text: string; meta: string }> {
    const msg = lastAssistant();
    await msg.locator('.msg-meta strong').waitFor();
    const meta = (await msg.locator('.msg-meta').textContent()) ?? '';
    return { charge: figure(meta, /charged ([\d,]+)/), text: (await msg.locator('.msg-body').textContent()) ?? '', meta };
  }

  async function waitForBalance(not: number): Promise<number> {
    await page.waitForFunction(
      (old) => Number((document.querySelector('#balance')?.textContent ?? '').replace(/[^\d]/g, '')) !== old,
      not,
      { timeout: WAIT },
    );
    return balance();
  }

  /** Waits until the streaming assistant message's text contains `text`. */
  async function streamed(text: string): Promise<string> {
    const body = lastAssistant().locator('.msg-body');
    await page.waitForFunction(
      ([el, t]) => (el as Element | null)?.textContent?.includes(t as string) === true,
      [await body.elementHandle(), text] as const,
      { timeout: WAIT },
    );
    return (await body.textContent()) ?? '';
  }

  /** Whether the last line of an element's text is on screen and not covered by anything. */
  async function onScreen(selector: string): Promise<{ visible: boolean; why: string }> {
    return page.locator(selector).last().evaluate((el) => {
      const range = document.createRange();
      range.selectNodeContents(el);
      const rects = range.getClientRects();
      const r = rects[rects.length - 1];
      if (!r) return { visible: false, why: 'no text' };
      const x = r.left + r.width / 2;
      const y = r.top + r.height / 2;
      if (y < 0 || y > innerHeight || x < 0 || x > innerWidth) return { visible: false, why: `off screen at ${Math.round(x)},${Math.round(y)}` };
      const hit = document.elementFromPoint(x, y);
      return { visible: el.contains(hit), why: `covered by ${hit?.outerHTML.slice(0, 60)}` };
    });
  }

  step('registers through the form and shows the balance in the header', async () => {
    await registerIn(page, app.url, username, touch ? 'tap' : 'click');
    await page.locator('#balance').waitFor();
    expect(await page.textContent('#balance')).toMatch(/Balance: 2,000/);
    expect(await page.locator('#message').isVisible()).toBe(true);
  });

  step('Shift+Enter adds a line, Enter sends (on a phone Enter adds a line and the button sends); the answer streams in and is charged', async () => {
    const g = gate();
    upstream.script({
      kind: 'stream', pieces: ['Alpha', ' beta', ' gamma', ' delta', ' omega.'], delayMs: DELAY_MS,
      gate: g, gateAfter: 2, usage: { prompt_tokens: 23, completion_tokens: 5 },
    });
    const before = await balance();
    const calls = upstream.requests.length;
    const box = page.locator('#message');
    if (touch) await box.tap();
    else await box.click();
    await box.pressSequentially('first line');
    await box.press('Shift+Enter');
    await box.pressSequentially('second line');
    expect(await box.inputValue()).toBe('first line\nsecond line');
    expect(upstream.requests.length).toBe(calls); // Shift+Enter did not send

    if (touch) {
      await box.press('Enter');
      expect(await box.inputValue()).toBe('first line\nsecond line\n');
      expect(upstream.requests.length).toBe(calls);
      await box.press('Backspace');
      await page.tap('#submit');
    } else {
      await box.press('Enter');
    }
    await answerShown(0);
    try {
      await within(g.reached, 'the model was not called after Enter');
      expect(upstream.requests[calls]!.body.messages.at(-1)).toMatchObject({ role: 'user', content: 'first line\nsecond line' });
      // Mid-stream: the first pieces are on the page, the rest has not been sent yet.
      const partial = await streamed('Alpha beta');
      expect(partial).not.toContain('gamma');
      expect(await onScreen('#transcript article.msg-assistant .msg-body')).toMatchObject({ visible: true });
      const user = page.locator('#transcript article.msg-user .msg-body').last();
      expect(await user.innerText()).toBe('first line\nsecond line');
    } finally {
      g.release();
    }
    const { charge, text, meta } = await settled();
    expect(text).toContain('Alpha beta gamma delta omega.');
    expect(meta).toContain('23 prompt + 5 completion tokens');
    expect(charge).toBe(priceOf(DEFAULT_MODEL, 23, 5)); // 43
    expect(before - (await waitForBalance(before))).toBe(charge);
  });

  step('Stop ends a streaming answer as stopped and charges what was delivered', async () => {
    const g = gate();
    upstream.script({ kind: 'stream', pieces: ['Stop', ' me', ' now', ' never'], delayMs: DELAY_MS, gate: g, gateAfter: 2 });
    const before = await balance();
    const calls = upstream.requests.length;
    await send('a long answer, please');
    try {
      await within(g.reached, 'the model was not called');
      await streamed('Stop me');
      expect(await onScreen('#transcript article.msg-assistant .msg-body')).toMatchObject({ visible: true });
      await press('#stop');
      expect(await within(upstream.requests[calls]!.closed, 'Stop did not end the model call')).toBe(true);
    } finally {
      g.release();
    }
    const { charge, text, meta } = await settled();
    expect(text).toContain('Stop me');
    expect(text).not.toContain('never');
    expect(await lastAssistant().textContent()).toContain('Stopped.');
    // No usage from the provider on a stop: the prompt and the delivered tokens, counted locally.
    expect(meta).toContain('counted locally');
    const prompt = figure(meta, /([\d,]+) prompt/);
    const completion = figure(meta, /([\d,]+) completion/);
    expect(completion).toBeGreaterThan(0);
    expect(charge).toBe(priceOf(DEFAULT_MODEL, prompt, completion));
    expect(before - (await waitForBalance(before))).toBe(charge);
  });

  step('model output with markup and htmx attributes does nothing', async () => {
    upstream.script({
      kind: 'stream', delayMs: DELAY_MS,
      pieces: ['Look: ', '<img src=x onerror="window.__xss=1">', ' and ', '<div hx-get="/logout" hx-trigger="load">x</div>', ' done'],
    });
    await send('show me some html');
    const { text } = await settled();
    expect(text).toContain('done');
    await page.waitForTimeout(300); // time for an onerror or an hx-trigger="load" to fire
    expect(await page.evaluate(() => (window as unknown as { __xss?: unknown }).__xss)).toBeUndefined();
    expect(await page.locator('#transcript img[src="x"], #transcript [hx-get]').count()).toBe(0);
    expect(logoutRequests).toEqual([]);
    await page.reload();
    await page.waitForTimeout(300);
    expect(await page.evaluate(() => (window as unknown as { __xss?: unknown }).__xss)).toBeUndefined();
    expect(logoutRequests).toEqual([]);
    expect(await page.locator('#balance').isVisible()).toBe(true); // still signed in
  });

  step('after a reload the conversation is in the sidebar with its messages', async () => {
    await page.goto(`${app.url}/`);
    // On a phone the conversations are in the drawer the chat header opens.
    if (await page.isVisible('#drawer-toggle')) await (touch ? page.tap('#drawer-toggle') : page.click('#drawer-toggle'));
    const link = page.locator('#conversation-list a', { hasText: 'first line' });
    expect(await link.count()).toBe(1);
    await Promise.all([page.waitForURL(/\/c\/\d+$/), touch ? link.tap() : link.click()]);
    const transcript = (await page.textContent('#transcript')) ?? '';
    for (const expected of ['second line', 'Alpha beta gamma delta omega.', 'a long answer, please', 'Stopped.', 'show me some html']) {
      expect(transcript).toContain(expected);
    }
    expect(await page.locator('#transcript .msg-meta strong').count()).toBe(3);
    expect(await page.evaluate(() => (window as unknown as { __xss?: unknown }).__xss)).toBeUndefined();
    expect(await page.locator('#balance').isVisible()).toBe(true);
  });

  step('Undo removes the last turn and puts its question back in the textbox', async () => {
    const users = page.locator('#transcript article.msg-user .msg-body');
    const before = await users.count();
    const question = ((await users.last().textContent()) ?? '').trim();
    expect(question).not.toBe('');
    await press('#undo');
    await page.waitForFunction((n) => document.querySelectorAll('#transcript article.msg-user').length === n - 1, before);
    await page.waitForFunction((q) => (document.getElementById('message') as HTMLTextAreaElement).value.trim() === q, question);
    expect(await page.locator('#undone').count()).toBe(0);
  });

  step('Answer again and Edit on an earlier message keep both versions, ‹ › switches between them, the textbox keeps its draft', async () => {
    await page.goto(`${app.url}/`);
    upstream.script({ kind: 'stream', pieces: ['First', ' reply.'] });
    await send('Question one');
    await settled();
    upstream.script({ kind: 'stream', pieces: ['Second', ' reply.'] });
    await send('Question two');
    await settled();
    await page.fill('#message', 'a draft to keep');
    const transcript = page.locator('#transcript');
    upstream.script({ kind: 'stream', pieces: ['Another', ' reply.'] });
    await press('#transcript article.msg-assistant >> nth=0 >> .msg-again button');
    await page.waitForFunction(() => document.querySelector('#transcript')?.textContent?.includes('Another reply.') && !document.querySelector('#transcript')?.textContent?.includes('Question two'));
    await settled();
    expect(await lastAssistant().locator('.versions').textContent()).toContain('2/2');
    expect(await page.inputValue('#message')).toBe('a draft to keep');
    // The previous version brings the later turn back.
    await press('#transcript article.msg-assistant >> nth=0 >> .versions button >> nth=0');
    await page.waitForFunction(() => document.querySelector('#transcript')?.textContent?.includes('Second reply.'));
    expect(await transcript.textContent()).toContain('Question two');
    // Edit the first question: its new version is answered, ‹ 2/2 › on the question.
    await press('#transcript article.msg-user >> nth=0 >> .msg-edit summary');
    await page.fill('#transcript article.msg-user >> nth=0 >> textarea', 'Question one, better');
    if (touch) expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    upstream.script({ kind: 'stream', pieces: ['Edited', ' reply.'] });
    await press('#transcript article.msg-user >> nth=0 >> .msg-edit button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#transcript')?.textContent?.includes('Edited reply.'));
    await settled();
    expect(await page.locator('#transcript article.msg-user').first().locator('.versions').textContent()).toContain('2/2');
    expect(await page.locator('#transcript article.msg-user').count()).toBe(1);
    expect(await page.inputValue('#message')).toBe('a draft to keep');
    await page.fill('#message', '');
  });

  step('a second tab follows an answer streaming in the first, live, to its end', async () => {
    const g = gate();
    upstream.script({ kind: 'stream', pieces: ['From', ' the', ' other', ' tab.'], gate: g, gateAfter: 1 });
    const second = await context.newPage();
    try {
      await send('Answer me in two tabs');
      await within(g.reached, 'the model was not called');
      await second.goto(page.url());
      // The second tab follows the answer that streams to the first: the text so far, before it ends.
      expect(await second.locator('#transcript article.msg-assistant').last().getAttribute('hx-trigger')).toBe('load');
      await second.waitForFunction(
        () => Array.from(document.querySelectorAll('#transcript article.msg-assistant')).pop()?.querySelector('.msg-body')?.textContent?.includes('From') === true,
        undefined,
        { timeout: WAIT },
      );
      g.release();
      await second.waitForFunction(
        () => Array.from(document.querySelectorAll('#transcript article.msg-assistant')).pop()?.textContent?.includes('From the other tab.') === true,
        undefined,
        { timeout: WAIT },
      );
      expect(await second.locator('#transcript article.msg-assistant').last().getAttribute('hx-trigger')).toBeNull();
    } finally {
      g.release();
      await second.close();
    }
    await settled();
  });
});

describe('API keys in the browser', () => {
  test('a key is made with the keyboard, shown once ready to copy, works on /v1, and is revoked', () => asNewUser('e2e_keys', async (page) => {
    await page.goto(`${app.url}/keys`);
    await page.fill('#name', 'my editor');
    await page.check('input[name="models"][value="gpt-4o-mini"]');
    await Promise.all([page.waitForURL(`${app.url}/keys`), page.press('#name', 'Enter')]);
    const key = await page.inputValue('#made-key');
    expect(key).toMatch(/^tc-[0-9A-Za-z]{32}$/);
    expect(await page.locator('#made-key').getAttribute('readonly')).not.toBeNull();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    const call = (k: string) => fetch(`${app.url}/v1/models`, { headers: { authorization: `Bearer ${k}` } });
    expect((await call(key)).status).toBe(200);
    // Shown once: reloading the answer sends the form again, which makes no second key and shows none.
    await page.reload();
    expect(await page.locator('#made-key').count()).toBe(0);
    await expect(page.locator('p.notice').textContent()).resolves.toContain('That form was already sent');
    expect(await page.locator('tbody tr').count()).toBe(1);
    await expect(page.locator('table').textContent()).resolves.toContain(`${key.slice(0, 7)}…${key.slice(-4)}`);
    // Revoking asks first, on a page of its own.
    await Promise.all([page.waitForURL(/\/keys\/\d+\/revoke$/), page.tap('button[aria-label="Revoke the key “my editor”"]')]);
    await Promise.all([page.waitForURL(/\/keys\?revoked=1$/), page.tap('#confirm-title ~ form button[type="submit"]')]);
    expect((await call(key)).status).toBe(401);
  }, { context: VIEWPORTS[1]!.options, how: 'tap' }));
});

describe('accessibility', () => {
  test('axe-core finds no WCAG 2.2 AA violation on any page, in both languages, light and dark', async () => {
    const found: string[] = [];
    for (const colorScheme of ['light', 'dark'] as const) {
      for (const locale of ['en', 'zh-CN']) {
        // bypassCSP: axe is injected as a script the page's CSP would rightly refuse.
        const context = await browser.newContext({ bypassCSP: true, colorScheme, locale, extraHTTPHeaders: { 'Accept-Language': locale } });
        try {
          const page = await context.newPage();
          page.setDefaultTimeout(WAIT);
          /** axe on the page as it is now. */
          const audit = async (label: string) => {
            for (const v of await axeViolations(page)) found.push(`${colorScheme} ${locale} ${label}: ${v}`);
          };
          const check = async (path: string) => {
            await page.goto(`${app.url}${path}`);
            await audit(path);
          };
          for (const path of ['/login', '/register']) await check(path);
          const username = `e2e_axe_${colorScheme}_${locale === 'en' ? 'en' : 'zh'}_${Date.now().toString(36)}`;
          await registerIn(page, app.url, username);
          const adminId = await promote(username, 'axe');
          // A conversation with an answer in it, so the transcript and its footer are checked too.
          await page.fill('#message', 'What is a **token**?');
          await page.press('#message', 'Enter');
          await page.waitForSelector('#transcript article.msg-assistant .msg-body.markdown', { timeout: WAIT });
          // Answered again, so the answer has versions (‹ 2/2 ›); its question's Edit form is checked open too.
          await page.click('#transcript article.msg-assistant .msg-again button');
          await page.waitForSelector('#transcript article.msg-assistant .versions', { timeout: WAIT });
          await page.waitForSelector('#transcript article.msg-assistant .msg-body.markdown', { timeout: WAIT });
          const conversation = new URL(page.url()).pathname;
          await page.click('#transcript article.msg-user .msg-edit summary');
          await audit(`${conversation} (Edit open)`);
          const orderId = await anOrder(adminId);
          for (const path of [
            conversation, '/', '/usage', '/usage/ledger', '/recharge', '/orders', `/recharge/orders/${orderId}`, '/keys', '/admin', '/admin/users', `/admin/users/${adminId}`,
            '/admin/codes', '/admin/usage', '/admin/providers', '/admin/orders', '/admin/audit',
          ]) {
            await check(path);
          }
        } finally {
          await context.close();
        }
      }
    }
    expect(found).toEqual([]);
  }, 120_000);
});

describe('screen readers and a streaming answer', () => {
  test('the live region hears "answering" once and a short line once each answer is finished; streaming pieces and Undo are not announced', () => asNewUser('e2e_sr', async (page) => {
    // What a screen reader is given: every text the live region takes, in order.
    await page.evaluate(() => {
      const heard: string[] = [];
      (window as unknown as { heard: string[] }).heard = heard;
      const region = document.getElementById('announcer')!;
      new MutationObserver(() => heard.push(region.textContent ?? '')).observe(region, { childList: true, characterData: true, subtree: true });
    });
    upstream.script({ kind: 'stream', pieces: ['One', ' two', ' three', ' four.'], delayMs: 20 });
    await page.fill('#message', 'Count to four');
    await page.press('#message', 'Enter');
    await page.waitForSelector('#transcript article.msg-assistant .msg-body.markdown', { timeout: WAIT });
    await page.click('#undo');
    await page.waitForFunction(() => document.querySelectorAll('#transcript article.msg-user').length === 0);
    const heard = await page.evaluate(() => (window as unknown as { heard: string[] }).heard.filter((t) => t !== ''));
    // The end is a short line, its figures; the answer itself is read in the transcript.
    expect(heard).toEqual(['Answering…', expect.stringMatching(/^Answer finished: \d+ tokens?, charged [\d,]+\.$/)]);
    expect(await page.getAttribute('#transcript', 'aria-live')).toBe('off');
    expect(await page.getAttribute('#estimate', 'aria-live')).toBe('off');
  }));

  test('axe-core finds no violation while an answer streams, light and dark', async () => {
    const found: string[] = [];
    for (const colorScheme of ['light', 'dark'] as const) {
      await asNewUser(`e2e_axe_live_${colorScheme}`, async (page) => {
        const g = gate();
        upstream.script({ kind: 'stream', pieces: ['Still', ' going'], gate: g, gateAfter: 1 });
        await page.fill('#message', 'Keep streaming');
        await page.press('#message', 'Enter');
        await within(g.reached, 'the model was not called');
        await page.waitForSelector('#transcript article.msg-assistant');
        for (const v of await axeViolations(page)) found.push(`${colorScheme}: ${v}`);
        g.release();
        await page.waitForSelector('#transcript article.msg-assistant .msg-body.markdown', { timeout: WAIT });
      }, { context: { bypassCSP: true, colorScheme, viewport: { width: 1280, height: 800 } } });
    }
    expect(found).toEqual([]);
  });
});

describe('keyboard and copying', () => {
  test('Esc stops the answer being written; a finished answer copies whole, as written; messages carry their time', () => asNewUser('e2e_keys', async (page) => {
    const g = gate();
    upstream.script({ kind: 'stream', pieces: ['Stop', ' me', ' please', ' now'], gate: g, gateAfter: 2 });
    const calls = upstream.requests.length;
    await page.fill('#message', 'Go on and on');
    await page.press('#message', 'Enter');
    try {
      await within(g.reached, 'the model was not called');
      await page.waitForFunction(() => document.querySelector('#transcript .msg-body.streaming')?.textContent?.includes('Stop me'));
      await page.keyboard.press('Escape');
      expect(await within(upstream.requests[calls]!.closed, 'Esc did not end the model call')).toBe(true);
    } finally {
      g.release();
    }
    await page.waitForSelector('#transcript article.msg-assistant .msg-alert');
    expect(await page.textContent('#transcript article.msg-assistant .msg-alert')).toContain('Stopped.');
    upstream.script({ kind: 'stream', pieces: ['**Bold** and `code`'] });
    await page.fill('#message', 'Some markdown please');
    await page.press('#message', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('#transcript article.msg-assistant .copy-answer:not([hidden])').length === 2);
    await page.locator('#transcript article.msg-assistant .copy-answer').last().click();
    await page.waitForFunction(() => navigator.clipboard.readText().then((t) => t === '**Bold** and `code`'));
    expect(await page.locator('#transcript article .msg-who time').count()).toBeGreaterThanOrEqual(4);
  }, { context: { ...VIEWPORTS[0]!.options, permissions: ['clipboard-read', 'clipboard-write'] } }));
});

describe('a balance that pays for only a few answer tokens', () => {
  test('the estimate warns while typing, and sending is refused with the amount needed, before the model is called', () => asNewUser('e2e_short', async (page, { username }) => {
    const userId = (await app.sql.value('SELECT id FROM users WHERE username = ?', username)) as number;
    await grant(app.database, userId, -((await app.database.read(balanceOf, userId)) - 30)); // the prompt and a few answer tokens
    await page.reload();
    const calls = upstream.requests.length;
    await page.fill('#message', 'Tell me everything about tokens');
    await page.waitForFunction(() => document.getElementById('estimate')?.textContent?.includes('would be refused'));
    await page.press('#message', 'Enter');
    await page.waitForSelector('#transcript .notice');
    expect(await page.textContent('#transcript .notice')).toMatch(/at least 32 tokens of answer\) needs [\d,]+ more than your balance of 30/);
    expect(upstream.requests.length).toBe(calls);
    expect(await app.database.read(balanceOf, userId)).toBe(30);
  }));
});

describe('leaving a conversation mid-answer', () => {
  test('the answer goes on being written; back in the conversation it is complete and charged in full', () => asNewUser('e2e_leave', async (page, { username }) => {
    const g = gate();
    upstream.script({ kind: 'stream', pieces: ['Written', ' while', ' you', ' were', ' away.'], gate: g, gateAfter: 1, usage: { prompt_tokens: 15, completion_tokens: 5 } });
    await page.fill('#message', 'Answer while I look elsewhere');
    await page.press('#message', 'Enter');
    await within(g.reached, 'the model was not called');
    await page.waitForURL(/\/c\/\d+$/);
    const conversation = new URL(page.url()).pathname;
    // The new conversation has its Rename / Delete and its tab title at once, without a reload.
    await page.waitForSelector('#manage details.manage');
    expect(await page.title()).toMatch(/^Answer while I look elsewhere/);
    // Another page while it streams: a new chat.
    await Promise.all([page.waitForURL(`${app.url}/`), page.click('a.new-chat')]);
    g.release();
    const userId = (await app.sql.value('SELECT id FROM users WHERE username = ?', username)) as number;
    for (let i = 0; i < 200 && (await app.sql.value("SELECT count(*) FROM holds WHERE user_id = ? AND state = 'settled'", userId)) !== 1; i++) await new Promise((r) => setTimeout(r, 25));
    await page.goto(`${app.url}${conversation}`);
    const answer = page.locator('#transcript article.msg-assistant').last();
    expect(((await answer.locator('.msg-body').textContent()) ?? '').trim()).toBe('Written while you were away.');
    const hold = (await app.sql.get('SELECT charge, outcome FROM holds WHERE user_id = ?', userId)) as { charge: number; outcome: string };
    expect(hold).toEqual({ charge: priceOf(DEFAULT_MODEL, 15, 5), outcome: 'ok' });
    expect(await answer.locator('.msg-meta strong').textContent()).toContain(`charged ${hold.charge}`);
  }));
});

describe('a long answer', () => {
  test('reads as markdown while it streams, and does not change height when it is done', () => asNewUser('e2e_md', async (page) => {
    const g = gate();
    upstream.script({ kind: 'stream', pieces: ['# Title\n\n', 'Some **bold** words\n\n', '- one\n- two\n'], gate: g, gateAfter: 3 });
    await page.fill('#message', 'Markdown please');
    await page.press('#message', 'Enter');
    await within(g.reached, 'the model was not called');
    // At most 250 ms after the last piece, the answer so far is rendered.
    await page.waitForSelector('#transcript .msg-body.streaming strong');
    expect(await page.textContent('#transcript .msg-body.streaming h1')).toBe('Title');
    expect(await page.locator('#transcript .msg-body.streaming li').count()).toBe(2);
    const streamingHeight = await page.locator('#transcript .msg-body.streaming').evaluate((el) => el.getBoundingClientRect().height);
    g.release();
    await page.waitForSelector('#transcript article.msg-assistant .msg-body.markdown');
    const doneHeight = await page.locator('#transcript article.msg-assistant .msg-body.markdown').evaluate((el) => el.getBoundingClientRect().height);
    expect(Math.abs(doneHeight - streamingHeight)).toBeLessThan(2);
  }));

  test('keeps the view at the bottom while the reader is there; scrolled up, they are left alone and offered a way back', () => asNewUser('e2e_follow', async (page) => {
    const g = gate();
    const lines = Array.from({ length: 60 }, (_, i) => `Line ${i + 1} of a long answer.\n`);
    upstream.script({ kind: 'stream', pieces: lines, delayMs: 5, gate: g, gateAfter: 40 });
    await page.fill('#message', 'A long answer, please');
    await page.press('#message', 'Enter');
    await within(g.reached, 'the model was not called');
    await page.waitForFunction(() => document.querySelector('#transcript .msg-body.streaming')?.textContent?.includes('Line 40'));
    const gap = () => page.evaluate(() => document.documentElement.scrollHeight - (window.innerHeight + window.scrollY));
    expect(await gap()).toBeLessThan(48); // followed to the bottom
    // The reader scrolls up to read: more text comes, and the view stays where they are.
    await page.evaluate(() => window.scrollTo({ top: 0 }));
    // As a reader's scroll does, the scroll event lands (two frames) before more text arrives.
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
    g.release();
    await page.waitForSelector('#jump-latest:not([hidden])');
    expect(await page.evaluate(() => window.scrollY)).toBe(0);
    await page.waitForSelector('#transcript article.msg-assistant .msg-body.markdown');
    await page.click('#jump-latest');
    expect(await gap()).toBeLessThan(48);
    expect(await page.isHidden('#jump-latest')).toBe(true);
  }, { context: { viewport: { width: 1280, height: 600 } } }));
});

describe('focus', () => {
  test('stays where it was across a dashboard refresh, and goes to the field to fix after a failed sign-in', () => asNewUser('e2e_focus', async (page, { username, context }) => {
    // The page's clock is the test's: 30 seconds pass at once, and the dashboard redraws itself.
    await page.clock.install();
    await page.goto(`${app.url}/`);
    await page.focus('#dashboard a[href="/usage"]');
    const redrawn = page.waitForResponse((r) => r.url().endsWith('/dashboard'));
    await page.clock.runFor(31_000);
    await redrawn;
    await page.waitForFunction(() => document.activeElement !== document.body);
    expect(await page.evaluate(() => document.activeElement?.closest('#dashboard') !== null && document.activeElement?.getAttribute('href'))).toBe('/usage');
    // Signed out, a wrong password: the password field has focus, described by the error.
    await context.clearCookies();
    await page.goto(`${app.url}/login`);
    await page.fill('#username', username);
    await page.fill('#password', 'not the password');
    await Promise.all([page.waitForLoadState('load'), page.click('form[action="/login"] button[type="submit"]')]);
    await page.waitForFunction(() => document.activeElement?.id === 'password');
    expect(await page.getAttribute('#password', 'aria-describedby')).toContain('login-error');
  }));
});

describe('every page on a phone', () => {
  // A phone, and a 1280 x 800 desktop at 200% zoom (WCAG 1.4.10, reflow).
  const narrow = [
    { name: '390 px', width: 390, options: VIEWPORTS[1]!.options },
    { name: '640 x 400', width: 640, options: { viewport: { width: 640, height: 400 }, deviceScaleFactor: 2 } },
  ];
  test.each(narrow)('no page scrolls sideways at $name, with a 200-character conversation title, admin pages included', ({ width, options }) => asNewUser(`e2e_wide_${width}`, async (page, { username }) => {
    const adminId = await promote(username, 'a batch for the class of 2026, spring term');
    const orderId = await anOrder(adminId);
    upstream.script({ kind: 'stream', pieces: ['A short answer.'] });
    await page.fill('#message', 'Hello');
    await page.click('#submit');
    await page.waitForSelector('#transcript article.msg-assistant .msg-body.markdown', { timeout: WAIT });
    const conversation = new URL(page.url()).pathname;
    await app.sql.run('UPDATE conversations SET title = ? WHERE id = ?', 'https://example.com/' + 'x'.repeat(180), Number(conversation.split('/').pop()));
    const wide: string[] = [];
    for (const path of [conversation, '/', '/usage', '/usage/ledger', '/recharge', '/orders', `/recharge/orders/${orderId}`, '/keys', '/admin/users', '/admin/codes', '/admin/usage', '/admin/providers', '/admin/orders', '/admin/audit']) {
      await page.goto(`${app.url}${path}`);
      const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
      if (scroll > width) wide.push(`${path}: ${scroll}px`);
    }
    expect(wide).toEqual([]);
  }, { context: options, how: 'click' }));

  test('on a phone the conversations are a drawer opened from the chat header, closed by Esc', () => asNewUser('e2e_drawer', async (page) => {
    upstream.script({ kind: 'stream', pieces: ['Drawer answer.'] });
    await page.fill('#message', 'A question for the drawer');
    await page.tap('#submit');
    await page.waitForSelector('#transcript article.msg-assistant .msg-body.markdown', { timeout: WAIT });
    await page.reload();
    expect(await page.isVisible('#sidebar')).toBe(false);
    await page.tap('#drawer-toggle');
    expect(await page.getAttribute('#drawer-toggle', 'aria-expanded')).toBe('true');
    expect(await page.isVisible('#conversation-list a')).toBe(true);
    await page.keyboard.press('Escape');
    expect(await page.isVisible('#sidebar')).toBe(false);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('drawer-toggle');
    // While an answer is written, Esc in the open drawer closes the drawer and stops nothing.
    const g = gate();
    upstream.script({ kind: 'stream', pieces: ['Not', ' stopped', ' by', ' the drawer.'], gate: g, gateAfter: 1 });
    const calls = upstream.requests.length;
    await page.fill('#message', 'Keep going');
    await page.tap('#submit');
    await within(g.reached, 'the model was not called');
    await page.tap('#drawer-toggle');
    await page.keyboard.press('Escape');
    expect(await page.isVisible('#sidebar')).toBe(false);
    g.release();
    await page.waitForFunction(() => document.querySelectorAll('#transcript article.msg-assistant .msg-body.markdown').length === 2);
    expect(await within(upstream.requests[calls]!.closed, 'the model call did not end')).toBe(false);
    expect(await page.textContent('#transcript article.msg-assistant:last-of-type .msg-body')).toContain('Not stopped by the drawer.');
  }, { context: VIEWPORTS[1]!.options, how: 'tap' }));
});
