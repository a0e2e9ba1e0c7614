// Times in the reader's time zone (issue 26: 8): every page writes each instant as a <time> in the
// zone the reader chose on /account, else the organisation's, and names the zone; CSV stays UTC.
import { setTimeZone as setOrgZone } from '../src/groups/allowances';
import { wallClock } from '../src/http/clock';
import { dashboardSuite, member, postForm, type Member } from './dashboard-helpers';
import type { TestServer } from './helpers';

const suite = dashboardSuite('zone_admin');
let srv: TestServer;
let admin: Member;
beforeAll(() => ({ srv, admin } = suite));

/** The text of the first <time> for `iso` in a page. */
const shown = (html: string, iso: string) => new RegExp(`<time datetime="${iso.replace(/[.]/g, '\\.')}" data-t="(\\w+)"[^>]*>([^<]*)</time>`).exec(html)?.slice(1);
const ledgerTime = async (m: Member) => String(await srv.sql.value('SELECT created_at FROM ledger WHERE user_id = ? ORDER BY id LIMIT 1', m.id));

test('an instant as wall-clock text in a zone', () => {
  const at = '2026-12-06T06:05:09.123Z';
  expect(wallClock(at, 'Asia/Shanghai')).toBe('2026-12-06 14:05');
  expect(wallClock(at, 'America/New_York', 'seconds')).toBe('2026-12-06 01:05:09');
  expect(wallClock(at, 'Pacific/Kiritimati', 'date')).toBe('2026-12-06');
  expect(wallClock('2026-12-06T23:30:00Z', 'Asia/Shanghai', 'date')).toBe('2026-12-07');
  expect(wallClock(at, 'UTC', 'time')).toBe('06:05');
  expect(wallClock('not a time', 'UTC')).toBe('not a time');
});

test("the wall clock is Intl's to the second, across the zones' offset changes (the offsets are known per quarter hour)", () => {
  const zones = ['America/New_York', 'Europe/London', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'America/St_Johns', 'Pacific/Chatham', 'Asia/Shanghai', 'Europe/Amsterdam'];
  const formats = new Map(zones.map((zone) => [zone, new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })]));
  const intl = (ms: number, zone: string) => {
    const p: Record<string, string> = {};
    for (const part of formats.get(zone)!.formatToParts(ms)) p[part.type] = part.value;
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
  };
  // Every 46 min 21.25 s through 2026 (both of each zone's changes, wherever they fall), and 1930,
  // when Amsterdam was 19 min 32 s ahead of UTC.
  const spans = [[Date.UTC(2026, 0, 1), Date.UTC(2027, 0, 1)], [Date.UTC(1930, 0, 1), Date.UTC(1930, 1, 1)]];
  let compared = 0;
  for (const zone of zones) {
    for (const [from, to] of spans) {
      for (let ms = from!; ms < to!; ms += 2_781_250) {
        const iso = new Date(ms).toISOString();
        if (wallClock(iso, zone, 'seconds') !== intl(ms, zone)) throw new Error(`${zone} ${iso}: ${wallClock(iso, zone, 'seconds')} against ${intl(ms, zone)}`);
        compared++;
      }
    }
  }
  expect(compared).toBeGreaterThan(90_000);
});

test("pages show times in the organisation's zone, saying which; a reader's own zone replaces it; CSV stays UTC", async () => {
  await srv.database.write(setOrgZone, admin.id, 'Asia/Shanghai');
  const m = await member(srv, 'zone_reader');
  const at = await ledgerTime(m);
  let page = await m.agent.get('/usage/ledger');
  expect(shown(page.text, at)).toEqual(['seconds', wallClock(at, 'Asia/Shanghai', 'seconds')]);
  expect(page.text).toContain('Times are in Asia/Shanghai.');
  expect(page.text).toContain('href="/account#time-zone-title"');
  expect(page.text).not.toContain('data-zone-fixed');
  expect(page.text).toContain('<script src="/static/local-time.js" nonce="');
  expect(page.text).toContain('CSV files give times in UTC (ISO 8601).');
  const csv = await m.agent.get('/usage/ledger.csv');
  expect(csv.text).toContain(at.slice(0, 19)); // ISO, UTC

  // The account page offers every zone; automatic names the organisation's.
  const account = await m.agent.get('/account');
  expect(account.text).toContain('Automatic: your browser&#39;s zone, or Asia/Shanghai without JavaScript');
  expect(account.text).toContain('<option>Europe/Berlin</option>');
  const saved = await postForm(m.agent, '/account/time-zone', { zone: 'America/New_York' }, '/account');
  expect(saved.status).toBe(303);
  expect(saved.headers.location).toBe('/account?done=time-zone#time-zone-title');
  page = await m.agent.get('/usage/ledger');
  expect(shown(page.text, at)).toEqual(['seconds', wallClock(at, 'America/New_York', 'seconds')]);
  expect(page.text).toContain('Times are in America/New_York.');
  expect(page.text).toMatch(/<html lang="en" data-zone-fixed>/); // the browser's zone does not replace a chosen one
  expect((await m.agent.get('/account')).text).toContain('<option selected>America/New_York</option>');

  // Chinese pages say it too; automatic again.
  expect((await m.agent.get('/usage/ledger').set('Accept-Language', 'zh-CN')).text).toContain('时间按 America/New_York 时区显示。');
  expect((await postForm(m.agent, '/account/time-zone', { zone: '' }, '/account')).status).toBe(303);
  expect((await m.agent.get('/usage/ledger')).text).toContain('Times are in Asia/Shanghai.');
});

test('a zone that is not one is refused with 422 and changes nothing; a page without times names no zone', async () => {
  const m = await member(srv, 'zone_bad');
  for (const zone of ['Mars/Olympus', 'x'.repeat(65), '../etc']) {
    const res = await postForm(m.agent, '/account/time-zone', { zone }, '/account');
    expect(res.status).toBe(422);
    expect(res.text).toContain('Choose a time zone from the list.');
  }
  expect((await postForm(m.agent, '/account/time-zone', {}, '/account')).status).toBe(400);
  expect(await srv.sql.value('SELECT time_zone FROM users WHERE id = ?', m.id)).toBeNull();
  expect((await m.agent.get('/recharge')).text).not.toContain('id="zone-note"');
});

test('the chat page writes a message time in the reader zone; admin pages too', async () => {
  const m = await member(srv, 'zone_admin_pages');
  await postForm(m.agent, '/account/time-zone', { zone: 'Asia/Tokyo' }, '/account');
  const created = String(await srv.sql.value('SELECT created_at FROM users WHERE id = ?', m.id));
  await postForm(admin.agent, '/account/time-zone', { zone: 'Europe/Berlin' }, '/account');
  const users = await admin.agent.get('/admin/users');
  expect(shown(users.text, created)).toEqual(['date', wallClock(created, 'Europe/Berlin', 'date')]);
  const audit = await admin.agent.get('/admin/audit');
  expect(audit.text).toContain('Times are in Europe/Berlin.');
});

test("a shared page, read signed out, gives its date in the organisation's zone and names it; a signed-in reader's own zone", async () => {
  await srv.database.write(setOrgZone, admin.id, 'Asia/Shanghai');
  const m = await member(srv, 'zone_sharer');
  await srv.sql.run("INSERT INTO conversations (user_id, title) VALUES (?, 'Shared at night')", m.id);
  const conversation = await srv.sql.value<number>('SELECT max(id) FROM conversations WHERE user_id = ?', m.id);
  const at = '2026-12-06T23:30:00.000Z'; // already the 7th in Shanghai
  const token = 'zone'.padEnd(22, '7');
  await srv.sql.run("INSERT INTO shares (token, user_id, conversation_id, title, snapshot, created_at) VALUES (?, ?, ?, 'Shared at night', '[]', ?)", token, m.id, conversation, at);

  const page = await srv.agent().get(`/s/${token}`);
  expect(page.status).toBe(200);
  expect(shown(page.text, at)).toEqual(['datetime', '2026-12-07 07:30']);
  expect(page.text).toContain('as it was on <time');
  expect(page.text).not.toContain('UTC');
  expect(page.text).toContain('Times are in Asia/Shanghai.');
  expect(page.text).not.toContain('data-zone-fixed'); // with JavaScript, the browser's zone
  expect(page.text).not.toContain('href="/account#time-zone-title"'); // nobody signed in has a zone to change
  const zh = await srv.agent().get(`/s/${token}`).set('Accept-Language', 'zh-CN');
  expect(zh.text).toContain('时间按 Asia/Shanghai 时区显示。');
  expect(zh.text).not.toContain('UTC');

  // A signed-in reader who chose a zone reads it in theirs, and the browser's does not replace it.
  await postForm(m.agent, '/account/time-zone', { zone: 'America/New_York' }, '/account');
  const own = await m.agent.get(`/s/${token}`);
  expect(shown(own.text, at)).toEqual(['datetime', '2026-12-06 18:30']);
  expect(own.text).toContain('Times are in America/New_York.');
  expect(own.text).toMatch(/<html lang="en" data-zone-fixed>/);
});
