import { barChart } from '../src/reports/chart';
import request from 'supertest';
import { createCodes } from '../src/ledger/codes';
import { csvCell } from '../src/reports/csv';
import { checkSpendLimits, spendAllowance } from '../src/ledger/spend-limits';
import { balanceRow, chatTurn, dashboardSuite, ledgerCount, member, parseCsv, postForm, type Member } from './dashboard-helpers';
import { csrfToken, startTestServer, type TestServer } from './helpers';

const suite = dashboardSuite('root');
let srv: TestServer;
let admin: Member;
beforeAll(() => ({ srv, admin } = suite));

const newCode = async (tokens = 500, expiresAt?: Date) => (await createCodes(srv.database, { tokens, count: 1, expiresAt }))[0]!;

describe('GET /tokens and the JSON endpoints', () => {
  test('signed out: GET /tokens and POST /recharge answer 401 JSON', async () => {
    const tokens = await request(srv.url).get('/tokens');
    expect(tokens.status).toBe(401);
    expect(tokens.body).toEqual({ error: { status: 401, message: 'Please sign in first.' } });
    const recharge = await request(srv.url).post('/recharge').send({ code: await newCode() });
    expect(recharge.status).toBe(401);
    expect(recharge.body.error.status).toBe(401);
  });

  test('GET /tokens gives the balance and spending on the session cookie', async () => {
    const m = await member(srv, 'jsonreader');
    await chatTurn(srv, m.id, { key: 'j1', prompt: 30, completion: 12 });
    const res = await m.agent.get('/tokens');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      balance: 2000 - 42,
      spent: { today: 42, month: 42, total: 42 },
      tokens: { prompt: 30, completion: 12, turns: 1 },
      by_model: [{ model: 'demo', turns: 1, prompt: 30, completion: 12, charge: 42 }],
      limits: { per_message: null, per_day: null, spent_today: 42 },
    });
    expect(res.body.daily).toHaveLength(30);
    expect(res.body.daily[29].charge).toBe(42);
  });

  test('POST /register, /login and /recharge work as JSON without a CSRF token', async () => {
    const agent = srv.agent();
    expect((await agent.post('/register').send({ username: 'scripted', password: 'script password' })).status).toBe(201);
    const code = await newCode(700);
    const res = await agent.post('/recharge').send({ code });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ redeemed: 700, balance: 2700 });
    expect((await agent.get('/tokens')).body.balance).toBe(2700);
  });
});

describe('POST /recharge', () => {
  test('an amount instead of a code changes nothing, however it is sent', async () => {
    const m = await member(srv, 'greedy');
    const rows = await ledgerCount(srv, m.id);
    const json = await m.agent.post('/recharge').send({ amount: 1_000_000 });
    expect(json.status).toBe(422);
    expect(json.body.error.message).toBe('Enter a redemption code.');
    const form = await postForm(m.agent, '/recharge', { amount: '1000000', tokens: '5000' }, '/recharge');
    expect(form.status).toBe(422);
    expect((await m.agent.post('/recharge').send({ code: { amount: 5 } })).status).toBe(422);
    // A real code with an amount beside it is worth the code, not the amount.
    const withCode = await m.agent.post('/recharge').send({ code: await newCode(10), amount: 1_000_000 });
    expect(withCode.body).toEqual({ redeemed: 10, balance: 2010 });
    expect(await balanceRow(srv, m.id)).toBe(2010);
    expect(await ledgerCount(srv, m.id)).toBe(rows + 1);
  });

  test('the form redeems a code and says clearly why unknown, used, expired and void codes fail', async () => {
    const m = await member(srv, 'redeemer');
    const code = await newCode(250);
    const ok = await postForm(m.agent, '/recharge', { code: code.toLowerCase() }, '/recharge');
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('250 tokens added. Your balance is now 2,250.');

    const again = await postForm(m.agent, '/recharge', { code }, '/recharge');
    expect(again.status).toBe(422);
    expect(again.text).toContain('That code has already been redeemed.');
    expect(again.text).toContain('aria-invalid="true"');

    const unknown = await postForm(m.agent, '/recharge', { code: 'TC-00000-00000-00000-00000' }, '/recharge');
    expect(unknown.status).toBe(422);
    expect(unknown.text).toContain('That code does not exist.');

    const stale = await newCode(100, new Date(Date.now() + 60_000));
    await srv.sql.run(`UPDATE redemption_codes SET expires_at = '2000-01-01T00:00:00.000Z' WHERE expires_at IS NOT NULL AND redeemed_by IS NULL`);
    const expired = await m.agent.post('/recharge').send({ code: stale });
    expect(expired.status).toBe(422);
    expect(expired.body.error).toMatchObject({ reason: 'expired', message: 'That code has expired.' });
    expect(await balanceRow(srv, m.id)).toBe(2250);
  });

  test('two simultaneous redemptions of one code give one success', async () => {
    const a = await member(srv, 'racer-a');
    const b = await member(srv, 'racer-b');
    const code = await newCode(900);
    const results = await Promise.all([
      a.agent.post('/recharge').send({ code }),
      b.agent.post('/recharge').send({ code }),
      a.agent.post('/recharge').send({ code }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 422, 422]);
    expect(results.filter((r) => r.status === 422).every((r) => r.body.error.reason === 'used')).toBe(true);
    const credited = await srv.sql.value(`SELECT count(*) FROM ledger WHERE kind = 'redeem' AND user_id IN (?, ?)`, a.id, b.id);
    expect(credited).toBe(1);
    expect((await balanceRow(srv, a.id)) + (await balanceRow(srv, b.id))).toBe(2000 + 2000 + 900);
  });

  test('failed redemptions are throttled per user with 429', async () => {
    const s = await startTestServer({ REDEEM_RATE_LIMIT_PER_USER: '3' });
    try {
      const m = await member(s, 'guesser');
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await m.agent.post('/recharge').send({ code: '  ' })).status); // no code: not a guess
      for (let i = 0; i < 4; i++) statuses.push((await m.agent.post('/recharge').send({ code: `TC-NOPE${i}` })).status);
      expect(statuses).toEqual([422, 422, 422, 422, 422, 422, 422, 422, 429]);
      const other = await member(s, 'bystander');
      expect((await other.agent.post('/recharge').send({ code: 'TC-NOPE' })).status).toBe(422);
    } finally {
      await s.close();
    }
  });
});

describe('the Usage page, dashboard and ledger', () => {
  let m: Member;
  beforeAll(async () => {
    m = await member(srv, 'spender');
    await chatTurn(srv, m.id, { key: 's1', prompt: 100, completion: 40, conversationId: 7, messageId: 42 });
    await chatTurn(srv, m.id, { key: 's2', prompt: 10, completion: 5, conversationId: 8, messageId: 43 });
    // An admin grant with a note a spreadsheet would run as a formula, and a redeemed code.
    const page = await admin.agent.get(`/admin/users/${m.id}`);
    const _csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1];
    const grant = await admin.agent.post(`/admin/users/${m.id}/grant`).type('form')
      .send({ _csrf, direction: 'grant', amount: '1000', note: '=HYPERLINK("http://evil.example","win"), thanks' });
    expect(grant.status).toBe(303);
    await m.agent.post('/recharge').send({ code: await newCode(300) });
  });

  test('GET /usage shows the totals, the SVG chart with its table, models and conversations', async () => {
    const res = await m.agent.get('/usage');
    expect(res.status).toBe(200);
    expect(res.text).toContain(`data-balance="${2000 - 140 - 15 + 1000 + 300}"`);
    expect(res.text).toMatch(/<svg class="chart-svg"[^>]*role="img"[^>]*aria-labelledby="daily-title" aria-describedby="daily-desc"/);
    expect(res.text).toMatch(/<rect [^>]*><title>\d{4}-\d{2}-\d{2}: 155<\/title><\/rect>/);
    const table = /<table>\s*<caption id="daily-table-caption">[\s\S]*?<\/table>/.exec(res.text)![0];
    expect(table.match(/<tr><th scope="row">/g)).toHaveLength(30);
    expect(table).toContain('<td class="num">155</td><td class="num">110</td><td class="num">45</td>');
    // Turns of conversations since deleted still count; there is no link to follow.
    expect(res.text).toContain('<th scope="row">Conversation 7 (deleted)</th>');
    expect(res.text).not.toContain('href="/c/7"');
    expect(res.text).not.toMatch(/\sstyle="/);
    expect(res.text).not.toMatch(/<script(?![^>]*\bsrc=)/);
  });

  test('GET /dashboard as htmx is the partial, refreshing every 30s and after each turn, nonce-stamped', async () => {
    const res = await m.agent.get('/dashboard').set('HX-Request', 'true');
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('<html');
    expect(res.text).toContain('hx-trigger="every 30s, tokenchat:turn-settled from:body"');
    const nonce = /'nonce-([^']+)'/.exec(res.headers['content-security-policy'])![1];
    expect(res.text).toContain(`hx-nonce="${nonce}"`);
    expect(res.text).toContain(`data-balance="${await balanceRow(srv, m.id)}"`);
    const signedOut = await request(srv.url).get('/dashboard').set('HX-Request', 'true');
    expect(signedOut.status).toBe(401);
    expect(signedOut.headers['hx-redirect']).toBe('/login');
    expect((await request(srv.url).get('/usage')).headers.location).toBe('/login?next=%2Fusage');
  });

  test('GET /usage/ledger lists grants, redemptions and charges linked to their message; filters by kind and date', async () => {
    const all = await m.agent.get('/usage/ledger');
    expect(all.text).toContain('Grant');
    expect(all.text).toContain('Code redeemed');
    expect(all.text).toContain('href="/c/7#m42"');
    expect(all.text).toContain('+1,000');
    const grants = await m.agent.get('/usage/ledger?kind=grant');
    expect(grants.text).toContain('+1,000');
    expect(grants.text).not.toContain('Code redeemed</td>');
    expect(grants.text).toContain('<option value="grant" selected>');
    const future = await m.agent.get('/usage/ledger?from=2999-01-01');
    expect(future.text).toContain('No entries match.');
    const today = new Date().toISOString().slice(0, 10);
    expect((await m.agent.get(`/usage/ledger?from=${today}&to=${today}&kind=redeem`)).text).toContain('+300');
    expect((await m.agent.get('/usage/ledger?kind=bogus&from=yesterday&page=-4')).status).toBe(200);
  });

  test('GET /usage/ledger shows one row per message with what it cost; its reserve and settle are a click away; a kind filter shows raw rows', async () => {
    const page = await m.agent.get('/usage/ledger');
    const holds = await srv.sql.all<{ charge: number }>('SELECT charge FROM holds WHERE user_id = ? ORDER BY id', m.id);
    expect(holds.length).toBe(2);
    expect(page.text.match(/<td>Message<\/td>/g)).toHaveLength(2);
    expect(page.text).not.toContain('<td>Reserved</td>');
    for (const { charge } of holds) expect(page.text).toContain(`class="num neg">-${charge.toLocaleString('en')}</td>`);
    expect(page.text.match(/<details class="raw-rows"><summary>Ledger rows<\/summary>Reserved -/g)).toHaveLength(2);
    const raw = await m.agent.get('/usage/ledger?kind=reserve');
    expect(raw.text.match(/<td>Reserved<\/td>/g)).toHaveLength(2);
    expect(raw.text).not.toContain('<td>Message</td>');
  });

  test('GET /usage/ledger.csv names the file after a Chinese username too (RFC 6266 filename*)', async () => {
    const zh = await member(srv, '张伟明');
    const res = await zh.agent.get('/usage/ledger.csv');
    expect(res.status).toBe(200);
    expect(res.headers['content-disposition']).toBe(`attachment; filename="tokenchat-ledger-???.csv"; filename*=UTF-8''tokenchat-ledger-${encodeURIComponent('张伟明')}.csv`);
  });

  test('GET /usage/ledger.csv streams RFC 4180 rows that sum to the balance, formulas neutralised', async () => {
    const res = await m.agent.get('/usage/ledger.csv');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv; charset=utf-8/);
    expect(res.headers['content-disposition']).toBe('attachment; filename=tokenchat-ledger-spender.csv');
    expect(res.text).toMatch(/\r\n$/);
    const [header, ...rows] = parseCsv(res.text);
    expect(header).toEqual([
      'id', 'time_utc', 'kind', 'amount', 'balance_after', 'model', 'prompt_tokens', 'completion_tokens', 'cached_tokens', 'reasoning_tokens', 'provider',
      'conversation_id', 'message_id', 'api_key', 'note', 'bucket',
    ]);
    const sum = rows.reduce((s, r) => s + Number(r[3]), 0);
    expect(sum).toBe(await balanceRow(srv, m.id));
    expect(sum).toBe((await m.agent.get('/tokens')).body.balance);
    expect(rows.map((r) => r[2])).toEqual(['signup_bonus', 'reserve', 'settle', 'reserve', 'settle', 'grant', 'redeem']);
    const grant = rows.find((r) => r[2] === 'grant')!;
    expect(grant[14]).toBe(`'=HYPERLINK("http://evil.example","win"), thanks`);
    expect(res.text).toContain(`"'=HYPERLINK(""http://evil.example"",""win""), thanks"`);
    const settle = rows.find((r) => r[2] === 'settle')!;
    expect([...settle.slice(5, 8), ...settle.slice(11, 13)]).toEqual(['demo', '100', '40', '7', '42']);
    expect(settle.slice(8, 11)).toEqual(['0', '0', '']); // no cached or reasoning tokens; settled without a provider call
    const filtered = parseCsv((await m.agent.get('/usage/ledger.csv?kind=reserve')).text);
    expect(filtered.slice(1).map((r) => r[2])).toEqual(['reserve', 'reserve']);
  });

  test('the CSV is streamed in chunks for a long ledger and stays complete', async () => {
    const long = await member(srv, 'longledger');
    for (let i = 0; i < 1200; i++) await chatTurn(srv, long.id, { key: `l${i}`, prompt: 1, completion: 0 });
    const rows = parseCsv((await long.agent.get('/usage/ledger.csv')).text).slice(1);
    expect(rows).toHaveLength(1 + 2400);
    expect(rows.reduce((s, r) => s + Number(r[3]), 0)).toBe(await balanceRow(srv, long.id));
    expect(new Set(rows.map((r) => r[0])).size).toBe(rows.length);
  });
});

describe('csvCell', () => {
  test.each([
    ['=1+2', "'=1+2"],
    ['+1', "'+1"],
    ['-1', "'-1"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\tcmd', "'\tcmd"],
    ['\rcmd', `"'\rcmd"`],
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['中文备注', '中文备注'],
  ])('text %j becomes %j', (input, output) => expect(csvCell(input)).toBe(output));

  test('numbers stay numbers, even negative ones; null is empty', () => {
    expect(csvCell(-500)).toBe('-500');
    expect(csvCell(null)).toBe('');
  });
});

describe('spend limits', () => {
  test('POST /usage/limits saves limits; checkSpendLimits refuses a turn past them and says why', async () => {
    const m = await member(srv, 'careful');
    const saved = await postForm(m.agent, '/usage/limits', { per_message: '100', per_day: '250' });
    expect(saved.status).toBe(303);
    expect((await m.agent.get('/usage?saved=limits')).text).toContain('Spend limits saved.');
    expect(await srv.database.read(checkSpendLimits, m.id, 100)).toEqual({ ok: true });
    expect(await srv.database.read(checkSpendLimits, m.id, 101)).toEqual({ ok: false, reason: 'per_message', limit: 100 });
    await chatTurn(srv, m.id, { key: 'c1', prompt: 60, completion: 30 });
    await chatTurn(srv, m.id, { key: 'c2', prompt: 60, completion: 30 });
    expect(await srv.database.read(checkSpendLimits, m.id, 70)).toEqual({ ok: true });
    expect(await srv.database.read(checkSpendLimits, m.id, 71)).toEqual({ ok: false, reason: 'per_day', limit: 250, spentToday: 180 });
    expect(await srv.database.read(spendAllowance, m.id)).toBe(70);
    expect((await m.agent.get('/tokens')).body.limits).toEqual({ per_message: 100, per_day: 250, spent_today: 180 });
  });

  test('a turn in flight counts against the daily limit at its hold', async () => {
    const m = await member(srv, 'twotabs');
    const set = await m.agent.post('/usage/limits').send({ per_day: 500 });
    expect(set.body).toEqual({ limits: { perMessage: null, perDay: 500 } });
    const { reserve } = await import('../src/ledger/ledger');
    const { loadModels } = await import('../src/metering/models');
    await reserve(srv.database, { userId: m.id, turnKey: 'open', model: loadModels().find('demo')!, promptTokens: 100, maxCompletion: 300 });
    expect(await srv.database.read(checkSpendLimits, m.id, 101)).toEqual({ ok: false, reason: 'per_day', limit: 500, spentToday: 400 });
    expect(await srv.database.read(checkSpendLimits, m.id, 100)).toEqual({ ok: true });
  });

  test('bad limits get 422 with the form re-rendered and change nothing; empty clears', async () => {
    const m = await member(srv, 'limitless');
    await postForm(m.agent, '/usage/limits', { per_message: '50', per_day: '' });
    for (const bad of ['-5', 'ten', '1e3', '2.5', '99999999999999', '0']) {
      const res = await postForm(m.agent, '/usage/limits', { per_message: bad, per_day: '100' });
      expect(res.status).toBe(422);
      expect(res.text).toContain('Enter a whole number of tokens from 1 to 1,000,000,000,000.');
      expect(res.text).toContain(`value="${bad}"`);
    }
    expect((await m.agent.get('/tokens')).body.limits).toMatchObject({ per_message: 50, per_day: null });
    expect((await m.agent.post('/usage/limits').send({ per_message: -1 })).status).toBe(422);
    await postForm(m.agent, '/usage/limits', { per_message: '', per_day: '' });
    expect((await m.agent.get('/tokens')).body.limits).toMatchObject({ per_message: null, per_day: null });
    expect(await srv.database.read(checkSpendLimits, m.id, 1_000_000)).toEqual({ ok: true });
  });

  test('a limits form without a CSRF token is refused', async () => {
    const m = await member(srv, 'csrfcheck');
    const res = await m.agent.post('/usage/limits').type('form').send({ per_message: '5' });
    expect(res.status).toBe(403);
    expect((await m.agent.get('/tokens')).body.limits.per_message).toBeNull();
    expect(await csrfToken(m.agent, '/usage')).toBeTruthy();
  });
});

describe('barChart', () => {
  test.each([30, 7, 1, 12])('%i days: the last day is labelled and no two labels crowd each other', (days) => {
    const points = Array.from({ length: days }, (_, i) => ({ day: `2026-11-${String(i + 1).padStart(2, '0')}`, value: i }));
    const chart = barChart(points);
    expect(chart.labels.at(-1)!.text).toBe(points.at(-1)!.day.slice(5));
    const slot = (chart.right - chart.left) / days;
    for (let i = 1; i < chart.labels.length; i++) expect(chart.labels[i]!.x - chart.labels[i - 1]!.x).toBeGreaterThanOrEqual(4 * slot - 0.5);
  });
});
