// Usage by group and period (issue 24): the admin's page per group for a period in the
// organisation's time zone, finance's CSV by month, user, group and model with the allowance and own
// parts of each charge, and both buckets on the user's ledger, usage page and CSV and the admin's
// user page. Turns and bucket rows are written straight into the tables, as the ledger leaves them,
// so every figure below is known; a turn counts under holds.rule_group, the group whose rule priced it.
import request from 'supertest';
import { member, parseCsv, type Member } from './dashboard-helpers';
import { startTestServer, type TestServer } from './helpers';

let srv: TestServer;
let admin: Member;
let alice: Member; // Class 3
let bob: Member; // Class 3 and Staff
let carol: Member; // in no group
const EVIL = '=HYPERLINK("http://evil.example","x")';
const group: Record<string, number> = {};
let aliceBucket: number;

async function newGroup(name: string, members: Member[]): Promise<number> {
  const id = (await srv.sql.value('INSERT INTO groups (name) VALUES (?) RETURNING id', name)) as number;
  for (const m of members) await srv.sql.run('INSERT INTO group_members (group_id, user_id) VALUES (?, ?)', id, m.id);
  return id;
}

let seq = 0;
/** A closed turn: charged `charge`, its hold having taken `parts` tokens from allowance buckets (null: none). */
async function turn(user: Member, at: string, t: { model: string; rule: string | null; charge: number; prompt: number; completion: number; parts?: number[] | null }) {
  const parts = t.parts ? JSON.stringify(t.parts.map((n) => ({ a: aliceBucket, n, e: '2999-01-01T00:00:00.000Z' }))) : null;
  return (await srv.sql.value(`INSERT INTO holds (user_id, turn_key, model, amount, prompt_tokens, max_completion, prompt_rate, completion_rate, state, charge,
      created_at, closed_at, used_prompt_tokens, completion_tokens, source, outcome, parts, rule_group)
    VALUES (?, ?, ?, ?, ?, 100, 1000000, 1000000, 'settled', ?, ?, ?, ?, ?, 'reported', 'ok', ?, ?) RETURNING id`,
  user.id, `t${++seq}`, t.model, Math.max(t.charge, 1), t.prompt, t.charge, at, at, t.prompt, t.completion, parts, t.rule)) as number;
}

async function bucketRow(bucket: number, user: Member, row: { kind: string; amount: number; after: number; at: string; period?: string; hold?: number }) {
  await srv.sql.run(`INSERT INTO allowance_ledger (allowance_id, user_id, kind, amount, balance_after, period, hold_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    bucket, user.id, row.kind, row.amount, row.after, row.period ?? null, row.hold ?? null, row.at);
}

beforeAll(async () => {
  srv = await startTestServer();
  admin = await member(srv, 'boss'); // the first account is the administrator
  [alice, bob, carol] = [await member(srv, 'alice'), await member(srv, 'bob'), await member(srv, 'carol')];
  // Months in Asia/Shanghai (UTC+8): 2025-03-31T17:00Z is already 1 April there.
  await srv.sql.run(`INSERT INTO app_settings (key, value) VALUES ('time_zone', 'Asia/Shanghai') ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
  group.c3 = await newGroup('Class 3', [alice, bob]);
  group.staff = await newGroup('Staff', [bob]);
  group.evil = await newGroup(EVIL, []);
  aliceBucket = (await srv.sql.value(`INSERT INTO allowances (user_id, group_id, group_name, balance, size, period, ends_at)
    VALUES (?, ?, 'Class 3', 8700, 10000, '2025-03', '2999-01-01T00:00:00.000Z') RETURNING id`, alice.id, group.c3)) as number;
  const bobBucket = (await srv.sql.value(`INSERT INTO allowances (user_id, group_id, group_name, balance, size, period, ends_at)
    VALUES (?, ?, 'Class 3', 10000, 10000, '2025-03', '2025-03-31T16:00:00.000Z') RETURNING id`, bob.id, group.c3)) as number;

  const h1 = await turn(alice, '2025-03-10T02:00:00.000Z', { model: 'gpt-4o-mini', rule: 'Class 3', charge: 1000, prompt: 300, completion: 200, parts: [800] });
  const h2 = await turn(alice, '2025-03-11T02:00:00.000Z', { model: 'gpt-4o-mini', rule: 'Class 3', charge: 500, prompt: 100, completion: 100, parts: [600] });
  await turn(bob, '2025-03-12T02:00:00.000Z', { model: 'gpt-4o', rule: 'Staff', charge: 2000, prompt: 700, completion: 300 });
  await turn(bob, '2025-03-13T02:00:00.000Z', { model: 'gpt-4o-mini', rule: 'Class 3', charge: 300, prompt: 50, completion: 25, parts: [100, 100] });
  await turn(carol, '2025-03-14T02:00:00.000Z', { model: 'demo', rule: null, charge: 50, prompt: 30, completion: 20 });
  await turn(carol, '2025-03-15T02:00:00.000Z', { model: 'demo', rule: EVIL, charge: 70, prompt: 40, completion: 30 });
  await turn(alice, '2025-03-31T17:00:00.000Z', { model: 'gpt-4o-mini', rule: 'Class 3', charge: 111, prompt: 11, completion: 10 }); // April there
  await turn(alice, '2025-02-28T15:59:00.000Z', { model: 'gpt-4o-mini', rule: 'Class 3', charge: 40, prompt: 4, completion: 4 }); // still February
  // A turn still answering is in no report.
  await srv.sql.run(`INSERT INTO holds (user_id, turn_key, model, amount, prompt_tokens, max_completion, prompt_rate, completion_rate, created_at, rule_group)
    VALUES (?, 'open', 'gpt-4o', 900, 10, 100, 1000000, 1000000, '2025-03-20T00:00:00.000Z', 'Class 3')`, alice.id);

  // Alice's bucket: February's refill expired, March's refill, two turns' reserves and settles: 8,700 left.
  await bucketRow(aliceBucket, alice, { kind: 'refill', amount: 10000, after: 10000, at: '2025-02-01T00:00:00.000Z', period: '2025-02' });
  await bucketRow(aliceBucket, alice, { kind: 'expire', amount: -10000, after: 0, at: '2025-02-28T16:00:00.000Z' });
  await bucketRow(aliceBucket, alice, { kind: 'refill', amount: 10000, after: 10000, at: '2025-03-01T00:00:00.000Z', period: '2025-03' });
  await bucketRow(aliceBucket, alice, { kind: 'reserve', amount: -800, after: 9200, at: '2025-03-10T01:59:00.000Z', hold: h1 });
  await bucketRow(aliceBucket, alice, { kind: 'settle', amount: 0, after: 9200, at: '2025-03-10T02:00:00.000Z', hold: h1 });
  await bucketRow(aliceBucket, alice, { kind: 'reserve', amount: -600, after: 8600, at: '2025-03-11T01:59:00.000Z', hold: h2 });
  await bucketRow(aliceBucket, alice, { kind: 'settle', amount: 100, after: 8700, at: '2025-03-11T02:00:00.000Z', hold: h2 });
  // Bob's refill was written at 00:30 on 1 March in Shanghai (still 28 February in UTC); his period is over.
  await bucketRow(bobBucket, bob, { kind: 'refill', amount: 10000, after: 10000, at: '2025-02-28T16:30:00.000Z', period: '2025-03' });
});
afterAll(() => srv.close());

/** The cells of a group's row on the by-group page, tags stripped. */
function groupRow(html: string, name: string): string[] {
  const escaped = name.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  const start = html.indexOf(`<tr data-group="${escaped}">`);
  if (start < 0) throw new Error(`no row for ${name}`);
  const row = html.slice(start, html.indexOf('</tr>', start));
  return [...row.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((m) => m[1]!.replace(/<[^>]+>/g, '').replace(/\s+/g, ' ').trim());
}

describe('GET /admin/usage/groups', () => {
  test('per group for March 2025 in Shanghai: members, turns, charge, the allowance part, allowance given and left, top users', async () => {
    const res = await admin.agent.get('/admin/usage/groups?month=2025-03');
    expect(res.status).toBe(200);
    expect(res.text).toContain('A turn counts under the group whose rule priced its model');
    expect(res.text).toContain('Asia/Shanghai');
    // name, members, turns, charged, of it from allowances, given, left now, top users
    expect(groupRow(res.text, 'Class 3')).toEqual(['Class 3', '2', '3', '1,800', '1,500', '20,000', '8,700', 'alice 1,500, bob 300']);
    expect(groupRow(res.text, 'Staff')).toEqual(['Staff', '1', '1', '2,000', '0', '0', '0', 'bob 2,000']);
    expect(groupRow(res.text, 'Everyone').slice(1)).toEqual(['2', '1', '50', '0', '0', '0', 'carol 50']); // boss and carol are in no group
    expect(groupRow(res.text, 'Everyone')[0]).toContain('people in no group');
    expect(groupRow(res.text, EVIL).slice(1, 4)).toEqual(['0', '1', '70']);
    expect(res.text).toContain('<tr data-group="=HYPERLINK(&quot;http://evil.example&quot;,&quot;x&quot;)">'); // escaped in the attribute too
  });

  test('April starts at 16:00 UTC on 31 March; February keeps the turn at 23:59 on its last day; a day and a week are periods too', async () => {
    expect(groupRow((await admin.agent.get('/admin/usage/groups?month=2025-04')).text, 'Class 3').slice(2, 4)).toEqual(['1', '111']);
    expect(groupRow((await admin.agent.get('/admin/usage/groups?month=2025-02')).text, 'Class 3').slice(2, 6)).toEqual(['1', '40', '0', '10,000']);
    expect(groupRow((await admin.agent.get('/admin/usage/groups?day=2025-03-12')).text, 'Staff').slice(2, 4)).toEqual(['1', '2,000']);
    const week = await admin.agent.get('/admin/usage/groups?unit=week&at=2025-03-12'); // Monday 10 to Sunday 16 March
    expect(week.text).toContain('Period 2025-W11');
    expect(groupRow(week.text, 'Class 3').slice(2, 4)).toEqual(['3', '1,800']);
  });

  test('the group page links to its usage, filtered to it; a malformed period is this month', async () => {
    const page = await admin.agent.get(`/admin/groups/${group.c3}`);
    expect(page.text).toContain(`href="/admin/usage/groups?group=${group.c3}"`);
    const one = await admin.agent.get(`/admin/usage/groups?month=2025-03&group=${group.c3}`);
    expect(groupRow(one.text, 'Class 3')[3]).toBe('1,800');
    expect(one.text).not.toContain('<tr data-group="Staff">');
    const bad = await admin.agent.get('/admin/usage/groups?month=2025-13&day=nope');
    expect(bad.status).toBe(200);
    expect(bad.text).toContain('Period 2026-'); // the current month (the clock is real here)
  });

  test('Chinese readers get the page in Chinese', async () => {
    const zh = await admin.agent.get('/admin/usage/groups?month=2025-03').set('Accept-Language', 'zh-CN');
    expect(zh.text).toContain('按组统计用量');
    expect(zh.text).toContain('财务用 CSV');
  });
});

describe('GET /admin/usage/groups.csv', () => {
  test('one row per month, user, group and model; charges sum to the holds; allowance part + own part == charge; formulas neutralised', async () => {
    const res = await admin.agent.get('/admin/usage/groups.csv?from=2025-02&to=2025-04');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv; charset=utf-8/);
    expect(res.headers['content-disposition']).toBe('attachment; filename=tokenchat-usage-2025-02-2025-04.csv');
    const [header, ...rows] = parseCsv(res.text);
    expect(header).toEqual(['month', 'user_id', 'username', 'group', 'model', 'turns', 'prompt_tokens', 'completion_tokens', 'tokens_charged', 'from_allowance', 'from_own_tokens']);
    const charged = (await srv.sql.value("SELECT sum(charge) FROM holds WHERE state <> 'held'")) as number;
    expect(rows.reduce((s, r) => s + Number(r[8]), 0)).toBe(charged);
    for (const r of rows) expect(Number(r[9]) + Number(r[10])).toBe(Number(r[8]));
    const key = (r: string[]) => r.slice(0, 5).join('|');
    expect(rows.map(key)).toEqual([
      `2025-02|${alice.id}|alice|Class 3|gpt-4o-mini`,
      `2025-03|${alice.id}|alice|Class 3|gpt-4o-mini`,
      `2025-03|${bob.id}|bob|Class 3|gpt-4o-mini`,
      `2025-03|${bob.id}|bob|Staff|gpt-4o`,
      `2025-03|${carol.id}|carol|'${EVIL}|demo`,
      `2025-03|${carol.id}|carol|Everyone|demo`,
      `2025-04|${alice.id}|alice|Class 3|gpt-4o-mini`,
    ]);
    const march = (name: string, grp: string) => rows.find((r) => r[0] === '2025-03' && r[2] === name && r[3] === grp)!.slice(5);
    expect(march('alice', 'Class 3')).toEqual(['2', '400', '300', '1500', '1300', '200']);
    expect(march('bob', 'Class 3')).toEqual(['1', '50', '25', '300', '200', '100']);
    expect(march('bob', 'Staff')).toEqual(['1', '700', '300', '2000', '0', '2000']);
    expect(res.text).toContain(`"'=HYPERLINK(""http://evil.example"",""x"")"`);
  });

  test('a range with no turns is the header alone; one month by default is this month', async () => {
    expect(parseCsv((await admin.agent.get('/admin/usage/groups.csv?from=2024-01&to=2024-02')).text)).toHaveLength(1);
    expect(parseCsv((await admin.agent.get('/admin/usage/groups.csv?from=2025-05&to=2025-04')).text)).toHaveLength(1);
    expect((await admin.agent.get('/admin/usage/groups.csv')).headers['content-disposition']).toMatch(/tokenchat-usage-2026-\d\d-2026-\d\d\.csv/);
  });

  test('nobody but an administrator reaches either: 404', async () => {
    for (const url of ['/admin/usage/groups', '/admin/usage/groups.csv?from=2025-03&to=2025-03']) {
      expect((await alice.agent.get(url)).status).toBe(404);
      expect((await request(srv.url).get(url)).status).toBe(404);
    }
  });
});

describe('both buckets for the user and the admin', () => {
  test('GET /usage/ledger lists allowance rows beside own tokens, each marked by bucket; a turn is one row of what it spent', async () => {
    const page = (await alice.agent.get('/usage/ledger')).text;
    expect(page).toContain('Allowance for Class 3, March 2025');
    expect(page).toContain('Allowance for Class 3, February 2025');
    expect(page).toContain('<td>Allowance expired</td>');
    expect(page).toContain('<td>Allowance: Class 3</td>');
    expect(page).toContain('<td>Own tokens</td>');
    expect(page).toContain('<td>Sign-up bonus</td>');
    expect(page).toContain('class="num neg">-500</td>'); // 600 set aside, 100 back
    expect(page).toContain('class="num neg">-800</td>');
    expect(page).not.toContain('<td>Reserved</td>');
    // Newest first across both tables: the signup bonus (now) before March's refill.
    expect(page.indexOf('Sign-up bonus')).toBeLessThan(page.indexOf('Allowance for Class 3, March 2025'));
    expect((await alice.agent.get('/usage/ledger').set('Accept-Language', 'zh-CN')).text).toContain('额度：Class 3');
  });

  test('GET /usage/ledger.csv has a bucket column; each bucket\'s rows sum to its balance', async () => {
    const [header, ...rows] = parseCsv((await alice.agent.get('/usage/ledger.csv')).text);
    expect(header[15]).toBe('bucket');
    const sum = (bucket: string) => rows.filter((r) => r[15] === bucket).reduce((s, r) => s + Number(r[3]), 0);
    expect(sum('Class 3')).toBe(8700);
    expect(sum('own')).toBe(await srv.sql.value('SELECT balance FROM balances WHERE user_id = ?', alice.id));
    expect(rows.filter((r) => r[15] === 'Class 3').map((r) => r[2])).toEqual(['refill', 'expire', 'refill', 'reserve', 'settle', 'reserve', 'settle']);
    // Oldest first across both: the allowance rows of 2025 come before the sign-up bonus.
    expect(rows[0]![15]).toBe('Class 3');
    expect(rows[rows.length - 1]![15]).toBe('own');
  });

  test('the usage page and the admin\'s user page show the allowance left of its size and when it refills, and own tokens', async () => {
    const usage = (await alice.agent.get('/usage')).text;
    expect(usage).toContain('Allowance from Class 3');
    expect(usage).toContain('8,700 of 10,000 left');
    expect(usage).toMatch(/refills Jan 1 \(in [\d,]+ days\)/);
    expect(usage).toMatch(/Own tokens<\/strong>: <span data-own="\d+">/);
    const adminView = (await admin.agent.get(`/admin/users/${bob.id}`)).text;
    expect(adminView).toContain('Allowance from Class 3');
    expect(adminView).toContain('0 of 10,000 left'); // his period is over: it refills at his next message
    expect(adminView).toContain('refills at the next message');
    expect((await carol.agent.get('/usage')).text).not.toContain('Allowance from');
  });
});
