// Paying by WeChat Pay and Alipay in a real browser (Chromium via playwright-core) on a 390 px
// phone, against the local fake gateways: the Recharge page's methods, the order page with its QR
// code (drawn on the server, shown under the CSP), Alipay's waiting page after the return, the
// order updating itself once the notification is in, the orders page and the admin's order page
// with Refund. axe-core finds nothing in English and Chinese, light and dark; nothing scrolls
// sideways. Needs a Chromium binary: /usr/bin/chromium or $CHROMIUM_PATH.
import type { Browser, Page } from 'playwright-core';
import { auditPhonePage, launchChromium, registerIn, submit, VIEWPORTS, WAIT } from './browser';
import { startCnPay, type CnPay } from '../cn-pay-helpers';

const PHONE = VIEWPORTS.find((v) => v.name === 'phone')!.options;

let browser: Browser;
let pay: CnPay;

beforeAll(async () => {
  pay = await startCnPay();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await pay?.close();
});

const orderIdIn = (url: string) => Number(/\/recharge\/orders\/(\d+)/.exec(url)?.[1]);

/** Presses the package's button for the method on the Recharge page. */
async function payWith(page: Page, method: 'alipay' | 'wechat') {
  await page.goto(`${pay.srv.url}/recharge`);
  await submit(page, `form:has(input[name="package"][value="starter"]) button[name="method"][value="${method}"]`);
}

test('the QR code page, the waiting page and the paid order on a phone; axe finds nothing in either language, light or dark; nothing scrolls sideways', async () => {
  const found: string[] = [];
  const wide: string[] = [];
  for (const colorScheme of ['light', 'dark'] as const) {
    for (const locale of ['en', 'zh-CN']) {
      // bypassCSP only for axe's own script: the QR code is checked to load under the real policy below.
      const context = await browser.newContext({ ...PHONE, bypassCSP: true, colorScheme, locale, extraHTTPHeaders: { 'Accept-Language': locale } });
      try {
        const page = await context.newPage();
        page.setDefaultTimeout(WAIT);
        const check = (label: string) => auditPhonePage(page, `${colorScheme} ${locale} ${label}`, found, wide);
        const name = `e2e_cnpay_${colorScheme}_${locale === 'en' ? 'en' : 'zh'}_${Date.now().toString(36)}`;
        await registerIn(page, pay.srv.url, name);
        await page.goto(`${pay.srv.url}/recharge`);
        // Chinese methods first for a reader of Chinese (no Stripe here: the two of them).
        expect(await page.locator('form:has(input[value="starter"]) button[name="method"]').evaluateAll((b) => b.map((x) => (x as HTMLButtonElement).value))).toEqual(['alipay', 'wechat']);
        await check('/recharge');

        // WeChat Pay: back to the order's page, with the QR code and the waiting notice.
        await payWith(page, 'wechat');
        const wechatOrder = orderIdIn(page.url());
        expect(wechatOrder).toBeGreaterThan(0);
        const qr = page.locator('figure.qr img');
        expect(await qr.evaluate((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0)).toBe(true);
        expect(await page.locator('#order-state [role="status"]').textContent()).toContain(locale === 'en' ? 'Waiting for WeChat Pay' : '正在等待微信支付');
        await check('QR code page');

        // WeChat Pay notifies: the page updates by itself.
        const row = await pay.srv.sql.get('SELECT session_id FROM orders WHERE id = ?', wechatOrder);
        pay.wechat.pay(row.session_id);
        const note = pay.wechat.paidNote(row.session_id);
        expect((await pay.srv.agent().post('/wechatpay/notify').set(note.headers).send(note.body)).status).toBe(204);
        await page.locator('text=' + (locale === 'en' ? 'Payment received' : '已收到付款')).first().waitFor();
        expect(await page.locator('figure.qr').count()).toBe(0);
        await check('paid order');

        // Alipay: Pay leads to Alipay's page (the form-action policy lets it); the return shows the waiting page.
        await payWith(page, 'alipay');
        expect(page.url().startsWith(pay.alipay.url)).toBe(true);
        const alipayOrder = await pay.srv.sql.value<number>('SELECT max(id) FROM orders');
        await page.goto(`${pay.srv.url}/recharge/orders/${alipayOrder}`);
        expect(await page.locator('#order-state [role="status"]').textContent()).toContain(locale === 'en' ? 'Waiting for Alipay' : '正在等待支付宝');
        await check('waiting page');

        await page.goto(`${pay.srv.url}/orders`);
        await check('/orders');
        await pay.srv.sql.run(`UPDATE users SET role = 'admin' WHERE username = ?`, name);
        await page.goto(`${pay.srv.url}/admin/orders`);
        await check('/admin/orders');
        await page.goto(`${pay.srv.url}/admin/orders/${wechatOrder}`);
        expect(await page.locator('#amount').inputValue()).toBe('10.00');
        await check('admin order page');
      } finally {
        await context.close();
      }
    }
  }
  expect(found).toEqual([]);
  expect(wide).toEqual([]);
}, 120_000);
