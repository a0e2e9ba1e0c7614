import { grantTokens } from '../src/admin/actions';
import request from 'supertest';
import { findByName } from '../src/accounts/users';
import { balanceRow, chatTurn, dashboardSuite, ledgerCount, member, parseCsv, type Member } from './dashboard-helpers';
import { csrfFrom, login, type Agent, type TestServer } from './helpers';

const suite = dashboardSuite('boss');
let srv: TestServer;
let admin: Member;
beforeAll(() => ({ srv, admin } = suite));

/** Posts an admin form with a CSRF token from the page the form is on. */
async function adminPost(agent: Agent, url: string, form: Record<string, string>, page = '/admin/users') {
  const _csrf = csrfFrom((await agent.get(page)).text);
  return agent.post(url).type('form').send({ _csrf, ...form });
}

const audit = () =>
  srv.sql.all<{
    actor: number;
    action: string;
    target: number | null;
    detail: string;
  }>('SELECT actor_id AS actor, action, target_user_id AS target, detail FROM admin_audit ORDER BY id');
const lastAudit = async () => (await audit()).at(-1)!;

describe('who may reach /admin', () => {
  test('members and the signed-out get 404 on every admin page and action, and nothing changes', async () => {
    const m = await member(srv, 'sneaky');
    const before = await ledgerCount(srv);
    const _csrf = csrfFrom((await m.agent.get('/usage')).text);
    for (const url of ['/admin', '/admin/users', `/admin/users/${m.id}`, '/admin/codes', '/admin/usage', '/admin/audit']) {
      expect({ url, status: (await m.agent.get(url)).status }).toEqual({ url, status: 404 });
      expect({ url, status: (await request(srv.url).get(url)).status }).toEqual({ url, status: 404 });
    }
    const posts: Array<[string, Record<string, string>]> = [
      [`/admin/users/${m.id}/grant`, { amount: '1000000', direction: 'grant' }],
      [`/admin/users/${m.id}/role`, { role: 'admin' }],
      ['/admin/codes', { tokens: '1000', count: '1' }],
      ['/admin/users', { username: 'sockpuppet', password: 'long enough pw' }],
    ];
    for (const [url, form] of posts) {
      expect({ url, status: (await m.agent.post(url).type('form').send({ _csrf, ...form })).status }).toEqual({ url, status: 404 });
      expect({ url, status: (await m.agent.post(url).send(form)).status }).toEqual({ url, status: 404 });
    }
    expect(await ledgerCount(srv)).toBe(before);
    expect(await balanceRow(srv, m.id)).toBe(2000);
    expect((await srv.database.read(findByName, 'sneaky'))!.role).toBe('user');
    expect(await srv.database.read(findByName, 'sockpuppet')).toBeUndefined();
    expect(await srv.sql.value('SELECT count(*) FROM redemption_codes')).toBe(0);
  });

  test('no user route adds tokens without a code: every POST a member can make leaves the balance alone', async () => {
    const m = await member(srv, 'selfgrant');
    const _csrf = csrfFrom((await m.agent.get('/usage')).text);
    for (const url of ['/recharge', '/tokens', '/usage/limits', '/dashboard', '/usage']) {
      await m.agent.post(url).send({ amount: 5000, tokens: 5000, balance: 999999, userId: m.id });
      await m.agent.post(url).type('form').send({ _csrf, amount: '5000', tokens: '5000', balance: '999999' });
    }
    expect(await balanceRow(srv, m.id)).toBe(2000);
    expect(await ledgerCount(srv, m.id)).toBe(1);
  });
});

describe('users', () => {
  test('GET /admin/users searches and pages users with balance and usage', async () => {
    const m = await member(srv, 'findme-42');
    await chatTurn(srv, m.id, { key: 'f1', prompt: 20, completion: 3 });
    const res = await admin.agent.get('/admin/users?q=FINDME');
    expect(res.status).toBe(200);
    expect(res.text).toContain(`<a href="/admin/users/${m.id}">findme-42</a>`);
    expect(res.text).toContain('<td class="num">1,977</td>');
    expect(res.text).toContain('<td class="num">23</td>');
    expect(res.text).not.toContain('>sneaky<');
    expect((await admin.agent.get('/admin/users?q=%25')).text).toContain('No users match.');
  });

  test('POST /admin/users creates a user who can sign in; bad input is 422 and creates nothing', async () => {
    const ok = await adminPost(admin.agent, '/admin/users', { username: 'newbie', password: 'newbie password' });
    expect(ok.status).toBe(303);
    const user = (await srv.database.read(findByName, 'newbie'))!;
    expect(ok.headers.location).toBe(`/admin/users/${user.id}?done=created`);
    expect((await admin.agent.get(ok.headers.location)).text).toContain('User newbie created.');
    expect((await login(srv.agent(), 'newbie', 'newbie password')).status).toBe(303);
    expect(await lastAudit()).toMatchObject({ actor: admin.id, action: 'user_create', target: user.id });
    const dup = await adminPost(admin.agent, '/admin/users', { username: 'NEWBIE', password: 'newbie password' });
    expect(dup.status).toBe(422);
    expect(dup.text).toContain('That username is taken.');
    const short = await adminPost(admin.agent, '/admin/users', { username: 'shorty', password: 'short' });
    expect(short.status).toBe(422);
    expect(await srv.database.read(findByName, 'shorty')).toBeUndefined();
  });

  test('grant and deduct with a note: ledger rows with the acting admin, audit rows, shown to the user', async () => {
    const m = await member(srv, 'granted');
    const grant = await adminPost(admin.agent, `/admin/users/${m.id}/grant`, { direction: 'grant', amount: '1500', note: 'course credit' });
    expect(grant.status).toBe(303);
    expect((await admin.agent.get(grant.headers.location)).text).toContain('granted now has 3,500 tokens.');
    const deduct = await admin.agent.post(`/admin/users/${m.id}/grant`).send({ direction: 'deduct', amount: 500, note: 'refund' });
    expect(deduct.status).toBe(200);
    expect(deduct.body.user.balance).toBe(3000);
    const rows = await srv.sql.all('SELECT kind, amount, actor_id AS actor, note FROM ledger WHERE user_id = ? ORDER BY id', m.id);
    expect(rows).toEqual([
      { kind: 'signup_bonus', amount: 2000, actor: null, note: null },
      { kind: 'grant', amount: 1500, actor: admin.id, note: 'course credit' },
      { kind: 'adjust', amount: -500, actor: admin.id, note: 'refund' },
    ]);
    expect((await audit()).slice(-2).map((a) => [a.action, a.actor, a.target, JSON.parse(a.detail).amount])).toEqual([
      ['grant', admin.id, m.id, 1500],
      ['deduct', admin.id, m.id, -500],
    ]);
    const dashboard = await m.agent.get('/dashboard');
    expect(dashboard.text).toContain('data-balance="3000"');
    expect((await m.agent.get('/usage/ledger')).text).toContain('course credit');
  });

  test('negative, non-numeric, fractional, zero and overflowing amounts get 422 and write no row', async () => {
    const m = await member(srv, 'victim');
    const before = await ledgerCount(srv);
    const audits = (await audit()).length;
    const bad = ['-100', 'abc', '12.5', '0', '1e6', '', ' ', '9999999999999', '1000000000001', '0x10', '١٠٠'];
    for (const amount of bad) {
      const res = await adminPost(admin.agent, `/admin/users/${m.id}/grant`, { direction: 'grant', amount });
      expect({ amount, status: res.status }).toEqual({ amount, status: 422 });
      expect(res.text).toContain('Enter a whole number of tokens from 1 to 1,000,000,000,000.');
    }
    for (const amount of [-100, 1.5, 0, Number.MAX_SAFE_INTEGER, 1e300, '100; DROP TABLE ledger', null, true, [100], { n: 1 }]) {
      const res = await admin.agent.post(`/admin/users/${m.id}/grant`).send({ direction: 'grant', amount });
      expect({ amount, status: res.status }).toEqual({ amount, status: 422 });
    }
    expect((await admin.agent.post(`/admin/users/${m.id}/grant`).send({ direction: 'steal', amount: 5 })).status).toBe(422);
    expect((await admin.agent.post(`/admin/users/${m.id}/grant`).send({ amount: 5, note: 'x'.repeat(501) })).status).toBe(422);
    expect(await ledgerCount(srv)).toBe(before);
    expect(await audit()).toHaveLength(audits);
    expect(await balanceRow(srv, m.id)).toBe(2000);
  });

  test('a deduction past zero is refused with 422 and changes nothing', async () => {
    const m = await member(srv, 'poor');
    const res = await adminPost(admin.agent, `/admin/users/${m.id}/grant`, { direction: 'deduct', amount: '2001' });
    expect(res.status).toBe(422);
    expect(res.text).toContain('That would take the balance below zero (it is 2000).');
    expect(await balanceRow(srv, m.id)).toBe(2000);
    expect(await ledgerCount(srv, m.id)).toBe(1);
    expect((await adminPost(admin.agent, '/admin/users/99999/grant', { direction: 'grant', amount: '5' })).status).toBe(404);
  });

  test('disabling ends an active session at once; enabling lets them sign in again', async () => {
    const m = await member(srv, 'tobedisabled');
    expect((await m.agent.get('/tokens')).status).toBe(200);
    const res = await adminPost(admin.agent, `/admin/users/${m.id}/disable`, { confirm: '1' });
    expect(res.status).toBe(303);
    expect((await admin.agent.get(res.headers.location)).text).toContain('tobedisabled is disabled; their sessions have ended.');
    expect((await m.agent.get('/tokens')).status).toBe(401);
    expect((await m.agent.get('/usage')).headers.location).toBe('/login?next=%2Fusage');
    expect((await login(srv.agent(), 'tobedisabled')).status).toBe(401);
    expect(await lastAudit()).toMatchObject({ actor: admin.id, action: 'disable', target: m.id });
    expect((await adminPost(admin.agent, `/admin/users/${m.id}/enable`, {})).status).toBe(303);
    expect((await login(srv.agent(), 'tobedisabled')).status).toBe(303);
    const self = await adminPost(admin.agent, `/admin/users/${admin.id}/disable`, { confirm: '1' });
    expect(self.status).toBe(422);
    expect(self.text).toContain('You cannot disable your own account.');
  });

  test('the last admin cannot be demoted; with two, one can be', async () => {
    const lone = await adminPost(admin.agent, `/admin/users/${admin.id}/role`, { role: 'user', confirm: '1' });
    expect(lone.status).toBe(422);
    expect(lone.text).toContain('That would leave no active administrator.');
    expect((await srv.database.read(findByName, 'boss'))!.role).toBe('admin');

    const deputy = await member(srv, 'deputy');
    expect((await adminPost(admin.agent, `/admin/users/${deputy.id}/role`, { role: 'admin' })).status).toBe(303);
    expect((await deputy.agent.get('/admin/users')).status).toBe(200);
    // Both try to demote the other at once: exactly one admin must remain.
    const [a, b] = await Promise.all([
      adminPost(admin.agent, `/admin/users/${deputy.id}/role`, { role: 'user', confirm: '1' }),
      adminPost(deputy.agent, `/admin/users/${admin.id}/role`, { role: 'user', confirm: '1' }),
    ]);
    const admins = await srv.sql.value(`SELECT count(*) FROM users WHERE role = 'admin'`);
    expect(admins).toBe(1);
    // The loser is refused (422), or, demoted a moment earlier, no longer sees /admin at all (404).
    expect([a.status, b.status].filter((s) => s === 303)).toHaveLength(1);
    expect([404, 422]).toContain([a.status, b.status].find((s) => s !== 303));
    // Put things back for the other tests: boss the only admin again.
    if ((await srv.database.read(findByName, 'boss'))!.role !== 'admin') {
      expect((await adminPost(deputy.agent, `/admin/users/${admin.id}/role`, { role: 'admin' })).status).toBe(303);
      expect((await adminPost(admin.agent, `/admin/users/${deputy.id}/role`, { role: 'user', confirm: '1' })).status).toBe(303);
    }
    expect((await srv.database.read(findByName, 'deputy'))!.role).toBe('user');
    expect((await audit()).filter((x) => x.action === 'promote' || x.action === 'demote').every((x) => [admin.id, deputy.id].includes(x.actor))).toBe(true);
  });

  test('a disabled admin does not count: the last active admin still cannot be demoted', async () => {
    const second = await member(srv, 'secondadmin');
    await adminPost(admin.agent, `/admin/users/${second.id}/role`, { role: 'admin' });
    await adminPost(admin.agent, `/admin/users/${second.id}/disable`, { confirm: '1' });
    expect((await adminPost(admin.agent, `/admin/users/${admin.id}/role`, { role: 'user', confirm: '1' })).status).toBe(422);
    expect((await srv.database.read(findByName, 'boss'))!.role).toBe('admin');
  });

  test('resetting a password ends the user’s sessions; the new password works, the old does not', async () => {
    const m = await member(srv, 'forgetful');
    const res = await adminPost(admin.agent, `/admin/users/${m.id}/password`, { password: 'brand new secret' });
    expect(res.status).toBe(303);
    expect((await m.agent.get('/tokens')).status).toBe(401);
    expect((await login(srv.agent(), 'forgetful')).status).toBe(401);
    expect((await login(srv.agent(), 'forgetful', 'brand new secret')).status).toBe(303);
    expect(await lastAudit()).toMatchObject({ actor: admin.id, action: 'password_reset', target: m.id, detail: '{}' });
    expect((await adminPost(admin.agent, `/admin/users/${m.id}/password`, { password: 'short' })).status).toBe(422);
    // An admin resetting their own password stays signed in.
    expect((await adminPost(admin.agent, `/admin/users/${admin.id}/password`, { password: 'correct horse battery' })).status).toBe(303);
    expect((await admin.agent.get('/admin/users')).status).toBe(200);
  });
});

describe('redemption codes', () => {
  test('a batch downloads once as CSV; the codes redeem; the list shows each state; unused ones can be voided', async () => {
    const res = await adminPost(admin.agent, '/admin/codes', { tokens: '400', count: '3', expires: '2999-12-31', note: '@class A' }, '/admin/codes');
    expect(res.status).toBe(201);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename=tokenchat-codes-batch-\d+\.csv$/);
    const [header, ...rows] = parseCsv(res.text);
    expect(header).toEqual(['code', 'tokens', 'expires_utc', 'batch', 'note']);
    expect(rows).toHaveLength(3);
    expect(rows[0]![4]).toBe("'@class A");
    const codes = rows.map((r) => r[0]!);
    for (const c of codes) expect(c).toMatch(/^TC-[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}$/);
    // Only hashes are stored: the plain codes appear nowhere in the database.
    const stored = await srv.sql.all('SELECT code_hash, note FROM redemption_codes');
    expect(JSON.stringify(stored)).not.toContain(codes[0]!.slice(3));
    expect(await lastAudit()).toMatchObject({ actor: admin.id, action: 'codes_create', target: null });
    expect((await lastAudit()).detail).not.toContain('TC-');

    const m = await member(srv, 'codeuser');
    expect((await m.agent.post('/recharge').send({ code: codes[0] })).body.balance).toBe(2400);
    const list = await admin.agent.get('/admin/codes');
    expect(list.text).toMatch(/<span class="state state-redeemed">Redeemed<\/span>/);
    expect(list.text).toContain('codeuser');

    const codeId = (await srv.sql.value('SELECT id FROM redemption_codes WHERE redeemed_by IS NULL ORDER BY id LIMIT 1')) as number;
    const voided = await adminPost(admin.agent, `/admin/codes/${codeId}/void`, { confirm: '1' }, '/admin/codes');
    expect(voided.status).toBe(303);
    expect(await lastAudit()).toMatchObject({ actor: admin.id, action: 'code_void' });
    const voidAgain = await adminPost(admin.agent, `/admin/codes/${codeId}/void`, { confirm: '1' }, '/admin/codes');
    expect(voidAgain.status).toBe(422);
    const redeemedId = (await srv.sql.value('SELECT id FROM redemption_codes WHERE redeemed_by IS NOT NULL')) as number;
    expect((await adminPost(admin.agent, `/admin/codes/${redeemedId}/void`, { confirm: '1' }, '/admin/codes')).status).toBe(422);
    const tries = await Promise.all(codes.slice(1).map((code) => m.agent.post('/recharge').send({ code })));
    const reasons = tries.map((t) => t.body.error?.reason ?? 'ok').sort();
    expect(reasons).toEqual(['ok', 'void']);
    expect(await balanceRow(srv, m.id)).toBe(2800);
    expect((await admin.agent.get('/admin/codes?state=void')).text).toMatch(/state-void/);
  });

  test('voiding a batch voids only its unused codes', async () => {
    const res = await admin.agent.post('/admin/codes').send({ tokens: 50, count: 4 });
    expect(res.status).toBe(201);
    const m = await member(srv, 'batchuser');
    await m.agent.post('/recharge').send({ code: res.body.codes[0] });
    const out = await adminPost(admin.agent, `/admin/codes/batches/${res.body.batch}/void`, { confirm: '1' }, '/admin/codes');
    expect(out.headers.location).toBe('/admin/codes?done=batch&n=3');
    expect((await admin.agent.get(out.headers.location)).text).toContain('3 unused codes voided.');
    const states = await srv.sql.all(
      `SELECT CASE WHEN redeemed_by IS NOT NULL THEN 1 ELSE 0 END AS used, CASE WHEN voided_at IS NOT NULL THEN 1 ELSE 0 END AS void
       FROM redemption_codes WHERE batch_id = ? ORDER BY id`,
      res.body.batch,
    );
    expect(states).toEqual([{ used: 1, void: 0 }, { used: 0, void: 1 }, { used: 0, void: 1 }, { used: 0, void: 1 }]);
    expect((await m.agent.post('/recharge').send({ code: res.body.codes[1] })).body.error.message).toBe('That code has been withdrawn by an administrator.');
  });

  test('bad batches get 422 and create nothing', async () => {
    const count = () => srv.sql.value('SELECT count(*) FROM redemption_codes');
    const before = await count();
    const cases: Array<Record<string, string>> = [
      { tokens: '-5', count: '1' }, { tokens: 'lots', count: '1' }, { tokens: '10', count: '0' },
      { tokens: '10', count: '10001' }, { tokens: '10', count: '2', expires: '2001-01-01' }, { tokens: '10', count: '2', expires: 'soon' },
      { tokens: '1000000000001', count: '1' },
    ];
    for (const form of cases) {
      const res = await adminPost(admin.agent, '/admin/codes', form, '/admin/codes');
      expect({ form, status: res.status }).toEqual({ form, status: 422 });
      expect(res.headers['content-type']).toMatch(/^text\/html/);
    }
    expect(await count()).toBe(before);
  });
});

describe('system usage and the audit log', () => {
  test('GET /admin/usage shows totals, the chart, top users and the models with their rates', async () => {
    const m = await member(srv, 'heavyuser');
    await chatTurn(srv, m.id, { key: 'h1', prompt: 1500, completion: 300 });
    const res = await admin.agent.get('/admin/usage');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/<svg class="chart-svg"[^>]*role="img"/);
    expect(res.text).toContain(`<a href="/admin/users/${m.id}">heavyuser</a>`);
    // The test server has no model API key: the offline demo model is all it offers.
    expect(res.text).toContain('<code>demo</code></th><td>Offline demo model</td><td class="num">1</td><td class="num">1</td>');
    expect(res.text).not.toContain('<code>gpt-4o</code>');
    expect(res.text).not.toMatch(/\sstyle="/);
  });

  test('GET /admin/audit lists every admin action with the acting admin', async () => {
    const res = await admin.agent.get('/admin/audit');
    expect(res.status).toBe(200);
    expect(res.text).toContain('Granted tokens');
    expect(res.text).toContain('Disabled');
    expect(res.text).toContain('<td>boss</td>');
    const rows = await audit();
    expect(rows.length).toBeGreaterThan(10);
    const adminIds = (await srv.sql.all<{ id: number }>(`SELECT id FROM users WHERE username_key IN ('boss', 'deputy')`)).map((r) => r.id);
    expect(rows.every((r) => adminIds.includes(r.actor))).toBe(true);
  });

  test('GET /admin/audit names the command line as the actor of `tokenchat grant` and `user disable`', async () => {
    const m = await member(srv, 'clisubject');
    await srv.database.write(grantTokens, null, m.id, 77, 'from the shell');
    const en = (await admin.agent.get(`/admin/users/${m.id}`)).text;
    expect(en).toMatch(/<td>Command line<\/td>\s*<td>Granted tokens<\/td>/);
    const zh = (await admin.agent.get(`/admin/users/${m.id}`).set('Accept-Language', 'zh-CN')).text;
    expect(zh).toContain('<td>命令行</td>');
  });

  test('the admin pages render in Chinese', async () => {
    const res = await admin.agent.get('/admin/codes').set('Accept-Language', 'zh-CN');
    expect(res.text).toContain('创建一批兑换码');
    expect((await admin.agent.get('/admin/usage').set('Accept-Language', 'zh-CN')).text).toContain('当前生效的模型和费率');
    // Audit details in the reader's language, numbers with separators.
    const m = await member(srv, 'auditsubject');
    const grant = await adminPost(admin.agent, `/admin/users/${m.id}/grant`, { direction: 'grant', amount: '12345', note: '奖励' }, `/admin/users/${m.id}`);
    expect(grant.status).toBe(303);
    const zh = (await admin.agent.get('/admin/audit').set('Accept-Language', 'zh-CN')).text;
    expect(zh).toContain('<td>数量: 12,345, 备注: 奖励, 余额: 14,345</td>');
    const en = (await admin.agent.get('/admin/audit').set('Accept-Language', 'en')).text;
    expect(en).toContain('<td>amount: 12,345, note: 奖励, balance: 14,345</td>');
  });
});
