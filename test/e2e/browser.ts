// What the browser tests share: the viewports, a bounded wait, signing up through the page, a
// page of its own signed in as a new user, axe-core's audit of a page (WCAG 2.2 AA and best
// practices), launching Chromium and submitting a form.
import fs from 'node:fs';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';

/** Debian's `chromium` package, or $CHROMIUM_PATH (`playwright install` cannot work here). */
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Chromium for a suite's beforeAll; a clear error when there is none. */
export function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/** Clicks a form's button and waits for the page it leads to. */
export async function submit(page: Page, button: string): Promise<void> {
  await Promise.all([page.waitForEvent('framenavigated'), page.click(button)]);
  await page.waitForLoadState('load');
}

export const WAIT = 5000; // longest wait for anything on the page

export const VIEWPORTS: { name: string; options: BrowserContextOptions }[] = [
  { name: 'desktop', options: { viewport: { width: 1280, height: 800 } } },
  { name: 'phone', options: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 } },
];

export async function within<T>(promise: Promise<T>, what: string, ms = WAIT): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Signs up through the register form (tapped on a touch viewport, clicked elsewhere) and lands on the chat page. */
export async function registerIn(page: Page, appUrl: string, username: string, how: 'tap' | 'click' = 'click'): Promise<void> {
  await page.goto(`${appUrl}/register`);
  await page.fill('#username', username);
  await page.fill('#password', 'correct horse battery');
  await page.fill('#confirm', 'correct horse battery');
  const submit = 'form[action="/register"] button[type="submit"]';
  await Promise.all([page.waitForURL(`${appUrl}/`), how === 'tap' ? page.tap(submit) : page.click(submit)]);
}

export interface NewUser {
  username: string;
  context: BrowserContext;
}

/**
 * A browser context of its own (its own cookies; a desktop unless `context` says otherwise) with a
 * page signed up as a new user, `<prefix>_<time>`, on the chat page; closed after `fn`, whatever happens.
 */
export async function withNewUser(
  browser: Browser,
  appUrl: string,
  prefix: string,
  fn: (page: Page, user: NewUser) => Promise<void>,
  opts: { context?: BrowserContextOptions; how?: 'tap' | 'click' } = {},
): Promise<void> {
  const context = await browser.newContext(opts.context ?? VIEWPORTS[0]!.options);
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    const username = `${prefix}_${Date.now().toString(36)}`;
    await registerIn(page, appUrl, username, opts.how);
    await fn(page, { username, context });
  } finally {
    await context.close();
  }
}

const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
// WCAG 2.2 AA and axe's best practices (landmarks, headings, scrollable regions): every page passes both.
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];

type Axe = { run: (d: Document, o: object) => Promise<{ violations: Array<{ id: string; nodes: Array<{ target: string[] }> }> }> };

/**
 * A suite's audit of one page on the 390 px phone: axe's violations into `found` and a page wider
 * than the phone into `wide`, each named by `where` (language, scheme, which page).
 */
export async function auditPhonePage(page: Page, where: string, found: string[], wide: string[]): Promise<void> {
  for (const v of await axeViolations(page)) found.push(`${where}: ${v}`);
  const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
  if (scroll > 390) wide.push(`${where}: ${scroll}px`);
}

/**
 * axe-core's WCAG 2.2 AA rules and best practices on the page as it is now: each violation as
 * `<rule> at <elements>`. The context needs `bypassCSP`: axe goes in as a script the page's CSP
 * would rightly refuse.
 */
export async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: AXE });
  const result = await page.evaluate(async (tags) => (window as unknown as { axe: Axe }).axe.run(document, { runOnly: { type: 'tag', values: tags } }), TAGS);
  return result.violations.map((v) => `${v.id} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}
