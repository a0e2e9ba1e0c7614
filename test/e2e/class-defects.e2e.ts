// The chat page's defects a teacher met (issue 26), in a real browser (Chromium via
// playwright-core): a page following an answer ends with the balance, sidebar and dashboard the
// turn's own page shows; focus never lands under the sticky composer, nor falls to <body> after
// ‹ 1/2 ›; a screen reader hears a short line when an answer ends, not its markdown; the auto-
// scroll follows an answer to its end; the desktop has no phone drawer buttons.
// Needs a Chromium binary: /usr/bin/chromium (Debian's `chromium` package) or $CHROMIUM_PATH.
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { gate, startFakeUpstream, type FakeUpstream } from '../fake-upstream';
import { launchChromium, type NewUser, VIEWPORTS, WAIT, within, withNewUser } from './browser';
import { startTestServer, type TestServer } from '../helpers';
import { balanceOf } from '../../src/ledger/ledger';
import { loadModels, priceOf } from '../../src/metering/models';

const MODEL = loadModels().find('gpt-4o-mini')!; // the default with a model API key

let browser: Browser;
let app: TestServer;
let upstream: FakeUpstream;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  app = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: upstream.url, DEMO_DELAY_MS: '0' });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await upstream?.close();
});

const asNewUser = (prefix: string, fn: (page: Page, user: NewUser) => Promise<void>, opts: { context?: BrowserContextOptions } = {}) =>
  withNewUser(browser, app.url, prefix, fn, opts);

const userIdOf = async (username: string) => (await app.sql.value('SELECT id FROM users WHERE username = ?', username)) as number;

/** Digits of a figure shown with thousands separators ("Balance: 2,000 tokens" -> 2000). */
const digits = (text: string | null | undefined) => Number((text ?? '').replace(/[^\d]/g, ''));

/** Types `text`, sends it with Enter and waits until its answer is finished (charged). */
async function ask(page: Page, text: string): Promise<void> {
  const done = await page.locator('#transcript article.msg-assistant .msg-meta strong').count();
  await page.fill('#message', text);
  // A phone's Enter adds a line; there the button sends.
  if (await page.evaluate(() => matchMedia('(pointer: coarse)').matches)) await page.tap('#submit');
  else await page.press('#message', 'Enter');
  await page.waitForFunction((n) => document.querySelectorAll('#transcript article.msg-assistant .msg-meta strong').length > n, done);
}

describe('a page following an answer (defect 1)', () => {
  test('a reloaded tab and a second tab end with the balance, the sidebar and the dashboard the turn\'s own page shows', () => asNewUser('e2e_follow_end', async (page, { username, context }) => {
    const g = gate();
    upstream.script({ kind: 'stream', pieces: ['Followed', ' to', ' its', ' end.'], gate: g, gateAfter: 1, usage: { prompt_tokens: 20, completion_tokens: 4 } });
    await page.fill('#message', 'Answer me while I reload');
    await page.press('#message', 'Enter');
    await within(g.reached, 'the model was not called');
    await page.waitForURL(/\/c\/\d+$/);
    await page.reload(); // this tab now follows the answer, as the second one does
    const second = await context.newPage();
    await second.goto(page.url());
    for (const p of [page, second]) await p.waitForSelector('#transcript article.msg-assistant[hx-trigger="load"]', { state: 'attached' });
    expect(await page.locator('#conversation-list .answering').count()).toBe(1);
    g.release();
    const charge = priceOf(MODEL, 20, 4);
    const userId = await userIdOf(username);
    for (const p of [page, second]) await p.locator('#transcript article.msg-assistant .msg-meta strong').waitFor();
    const balance = await app.database.read(balanceOf, userId);
    expect(balance).toBe(2000 - charge); // settled: no hold left
    for (const [name, p] of [['reloaded', page], ['second', second]] as const) {
      // Everything comes in the answer's last frame; wait for it rather than for a timer.
      await p.waitForFunction((b) => Number((document.getElementById('balance')?.textContent ?? '').replace(/[^\d]/g, '')) === b, balance, { timeout: WAIT })
        .catch(() => undefined);
      const seen = await p.evaluate(() => ({
        header: document.getElementById('balance')?.textContent,
        dashboard: document.querySelector('#dashboard .stat-balance dd')?.textContent,
        today: document.querySelectorAll('#dashboard .stat dd')[1]?.textContent,
        answering: document.querySelectorAll('#conversation-list .answering').length,
      }));
      expect({ name, header: digits(seen.header), dashboard: digits(seen.dashboard), today: digits(seen.today), answering: seen.answering })
        .toEqual({ name, header: balance, dashboard: balance, today: charge, answering: 0 });
    }
    await second.close();
  }));
});

describe('the sidebar as a turn starts and ends', () => {
  test('a turn moves its own conversation to the top, marked answering while it is, without the rest of the list sent again', () => asNewUser('e2e_sidebar', async (page) => {
    const titles = () => page.$$eval('#conversation-list li', (items) => items.map((li) => `${li.id} ${li.textContent?.trim()}`));
    expect(await page.locator('#no-conversations').count()).toBe(1);
    await ask(page, 'First chat');
    expect(await page.locator('#no-conversations').count()).toBe(0); // the empty list's line went with the first entry
    const first = Number(/\/c\/(\d+)$/.exec(page.url())![1]);
    await page.goto(`${app.url}/`);
    await ask(page, 'Second chat');
    const second = Number(/\/c\/(\d+)$/.exec(page.url())![1]);
    expect(await titles()).toEqual([`conversation-${second} Second chat`, `conversation-${first} First chat`]);
    // Back to the older one: its next turn puts it first, marked answering, and the end unmarks it.
    await page.goto(`${app.url}/c/${first}`);
    const g = gate();
    upstream.script({ kind: 'stream', pieces: ['Held', ' answer.'], gate: g, gateAfter: 1 });
    await page.fill('#message', 'Once more');
    await page.press('#message', 'Enter');
    await within(g.reached, 'the model was not called');
    await page.locator('#conversation-list li:first-child .answering').waitFor();
    expect(await titles()).toEqual([`conversation-${first} First chat · answering…`, `conversation-${second} Second chat`]);
    expect(await page.locator('#conversation-list a[aria-current="page"]').evaluateAll((links) => links.map((a) => a.getAttribute('href')))).toEqual([`/c/${first}`]);
    g.release();
    await page.locator('#conversation-list .answering').waitFor({ state: 'detached' });
    expect(await titles()).toEqual([`conversation-${first} First chat`, `conversation-${second} Second chat`]);
  }));
});

describe('focus and the sticky composer (defect 3, WCAG 2.2 2.4.11)', () => {
  test('Tab through a long conversation never lands on a control hidden under the composer', () => asNewUser('e2e_obscured', async (page) => {
    const long = (n: number) => [`Answer ${n}:\n\n`, ...Array.from({ length: 12 }, (_, i) => `Line ${i + 1} of answer ${n}.\n\n`), '```js\nconsole.log(1);\n```\n'];
    for (const n of [1, 2, 3]) {
      upstream.script({ kind: 'stream', pieces: long(n) });
      await ask(page, `Question ${n}`);
    }
    await page.reload();
    await page.evaluate(() => window.scrollTo({ top: 0 }));
    await page.focus('#transcript article.msg-user .msg-edit summary');
    const hidden: string[] = [];
    let reached = 0;
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      const where = await page.evaluate(() => {
        const el = document.activeElement as HTMLElement | null;
        if (!el || !el.closest('#transcript')) return null;
        const r = el.getBoundingClientRect();
        const composer = document.getElementById('composer')!.getBoundingClientRect();
        return { what: `${el.tagName} "${(el.textContent ?? '').trim().slice(0, 20)}"`, bottom: r.bottom, top: r.top, composerTop: composer.top };
      });
      if (!where) break; // past the transcript, in the composer
      reached++;
      if (where.bottom > where.composerTop + 1) hidden.push(`${where.what}: ${Math.round(where.top)}-${Math.round(where.bottom)} under the composer at ${Math.round(where.composerTop)}`);
    }
    expect(reached).toBeGreaterThan(6); // Copy, Copy answer, Answer again and Edit, on every message
    expect(hidden).toEqual([]);
  }, { context: { ...VIEWPORTS[0]!.options, viewport: { width: 1280, height: 700 } } }));
});

describe('‹ 1/2 › (defect 4, WCAG 2.4.3)', () => {
  test('switching versions with the keyboard keeps focus on the arrows, in the redrawn transcript', () => asNewUser('e2e_versions', async (page) => {
    upstream.script({ kind: 'stream', pieces: ['First', ' version.'] });
    await ask(page, 'Two versions, please');
    upstream.script({ kind: 'stream', pieces: ['Second', ' version.'] });
    await page.click('#transcript article.msg-assistant .msg-again button');
    await page.waitForFunction(() => document.querySelector('#transcript article.msg-assistant .versions')?.textContent?.includes('2/2'));
    await page.locator('#transcript article.msg-assistant .msg-meta strong').waitFor();
    const focused = () => page.evaluate(() => {
      const el = document.activeElement;
      return el?.closest('#transcript article.msg-assistant .versions') ? el.getAttribute('aria-label') : el?.tagName ?? null;
    });
    await page.focus('#transcript article.msg-assistant .versions button[aria-label="Previous version"]');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('#transcript article.msg-assistant')?.textContent?.includes('First version.'));
    // The pressed arrow is disabled at 1/2: focus is on the other one, not on <body>.
    await page.waitForFunction(() => document.activeElement !== document.body, undefined, { timeout: 1000 }).catch(() => undefined);
    expect(await focused()).toBe('Next version');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('#transcript article.msg-assistant')?.textContent?.includes('Second version.'));
    await page.waitForFunction(() => document.activeElement !== document.body, undefined, { timeout: 1000 }).catch(() => undefined);
    expect(await focused()).toBe('Previous version');
  }));
});

describe('what a screen reader hears when an answer ends (defect 5)', () => {
  const answer = ['## A list\n\n', '- one\n- two\n\n', '```js\nconst x = 1;\n```\n\n', '| a | b |\n|---|---|\n| 1 | 2 |\n'];
  test.each([
    { locale: 'en', said: (tokens: string, charge: string) => `Answer finished: ${tokens} tokens, charged ${charge}.` },
    { locale: 'zh-CN', said: (tokens: string, charge: string) => `回答完成：${tokens} tokens，扣费 ${charge}。` },
  ])('in $locale: a short line with the tokens and the charge, not the markdown; the answer is read rendered', ({ locale, said }) => asNewUser(`e2e_said_${locale.slice(0, 2)}`, async (page, { context }) => {
    await context.addCookies([{ name: 'lang', value: locale, url: app.url }]);
    await page.reload();
    await page.evaluate(() => {
      const heard: string[] = [];
      (window as unknown as { heard: string[] }).heard = heard;
      const region = document.getElementById('announcer')!;
      new MutationObserver(() => heard.push(region.textContent ?? '')).observe(region, { childList: true, characterData: true, subtree: true });
    });
    upstream.script({ kind: 'stream', pieces: answer, usage: { prompt_tokens: 100, completion_tokens: 412 } });
    await ask(page, 'A list, some code and a table');
    const heard = await page.evaluate(() => (window as unknown as { heard: string[] }).heard.filter((t) => t !== ''));
    expect(heard.at(-1)).toBe(said('412', priceOf(MODEL, 100, 412).toLocaleString(locale)));
    for (const raw of ['##', '```', '|']) expect(heard.join(' ')).not.toContain(raw);
    // The answer is in the transcript, rendered: a heading to move to, a list, code and a table.
    const body = page.locator('#transcript article.msg-assistant .msg-body.markdown');
    expect(await body.locator('h2').textContent()).toBe('A list');
    expect(await body.locator('li').count()).toBe(2);
    expect(await body.locator('table').count()).toBe(1);
  }));
});

describe('following an answer down the page (defect 2)', () => {
  test.each(VIEWPORTS)('untouched, the view follows a long answer to its end, and "Jump to the latest" never shows ($name)', ({ options }) => asNewUser('e2e_autoscroll', async (page) => {
    upstream.script({ kind: 'stream', pieces: ['A first, short answer.'] });
    await ask(page, 'Hello');
    // Markdown that re-renders as it grows (a list, code), asked in a message of several lines.
    const lines = Array.from({ length: 50 }, (_, i) => (i % 10 === 0 ? `## Part ${i / 10 + 1}\n\n` : i % 10 === 5 ? '```js\nconst a = 1;\nconst b = 2;\n```\n\n' : `- item ${i + 1} of a long answer\n`));
    upstream.script({ kind: 'stream', pieces: lines, delayMs: 25 });
    await page.evaluate(() => {
      const w = window as unknown as { jumpShown: boolean };
      w.jumpShown = false;
      const jump = document.getElementById('jump-latest')!;
      new MutationObserver(() => (w.jumpShown ||= !jump.hidden)).observe(jump, { attributes: true });
    });
    await ask(page, 'A long answer, please,\nin parts,\nwith code,\nand lists.');
    const gap = () => page.evaluate(() => document.documentElement.scrollHeight - (window.innerHeight + window.scrollY));
    expect(await gap()).toBeLessThan(48);
    expect(await page.evaluate(() => (window as unknown as { jumpShown: boolean }).jumpShown)).toBe(false);
  }, { context: options }));
});

describe('smaller things a class sees (defect 7)', () => {
  test('a desktop has no phone drawer buttons; the search placeholder shows whole; an empty chat has no message actions until its first answer starts', () => asNewUser('e2e_small', async (page) => {
    expect(await page.isVisible('#drawer-toggle')).toBe(false);
    expect(await page.isVisible('[data-drawer-close]')).toBe(false);
    // The placeholder's width in the field's own font, against the room the field has for it.
    const room = await page.locator('#q').evaluate((input: HTMLInputElement) => {
      const style = getComputedStyle(input);
      const ctx = document.createElement('canvas').getContext('2d')!;
      ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
      return { text: ctx.measureText(input.placeholder).width, box: input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) };
    });
    expect(room.text).toBeLessThanOrEqual(room.box);
    const actions = ['#stop', '#retry', '#edit', '#undo', '#clear'];
    for (const a of actions) expect(`${a} ${await page.isVisible(a)}`).toBe(`${a} false`);
    const g = gate();
    upstream.script({ kind: 'stream', pieces: ['Now', ' there', ' is', ' something.'], gate: g, gateAfter: 1 });
    await page.fill('#message', 'Something to act on');
    await page.press('#message', 'Enter');
    await within(g.reached, 'the model was not called');
    await page.waitForSelector('#stop', { state: 'visible' }); // Stop while the first answer is written
    g.release();
    await page.locator('#transcript article.msg-assistant .msg-meta strong').waitFor();
    for (const a of actions) expect(`${a} ${await page.isVisible(a)}`).toBe(`${a} true`);
  }));

  test('the Chinese chat page offers its examples in Chinese; the Providers page says its time zone without "Times are Times are"', () => asNewUser('e2e_small_zh', async (page, { username, context }) => {
    await app.sql.run(`UPDATE users SET role = 'admin' WHERE username = ?`, username);
    await page.goto(`${app.url}/admin/providers`);
    // Times are in the reader's zone now, named under a page that shows any (class-defects-2.e2e.ts).
    expect(await page.locator('main').textContent()).not.toMatch(/Times are\s+Times are/);
    await context.addCookies([{ name: 'lang', value: 'zh-CN', url: app.url }]);
    await page.goto(`${app.url}/`);
    const examples = await page.locator('#composer button.example').allTextContents();
    expect(examples.length).toBeGreaterThan(0);
    for (const e of examples) expect(e).toMatch(/[\u4e00-\u9fff]/);
    expect(examples.filter((e) => /^[\x20-\x7e]+$/.test(e.trim()))).toEqual([]);
    await page.goto(`${app.url}/admin/providers`);
    expect(await page.locator('main').textContent()).not.toMatch(/时间为\s*时间均为/);
  }));
});
