// A group's allowance on its admin page and the organisation's time zone on /admin/groups (issue 24):
// the form sets the allowance and the members' buckets follow, a refusal is 422 on the field and
// changes nothing, each change is audited, Everyone's works too, and nobody but an admin reaches any of it.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { openStore } from '../src/db';
import { partLeft, periodOf } from '../src/ledger/periods';
import { schemaOn } from '../src/storage/postgres/store';
import { chatTurn, member, type Member } from './dashboard-helpers';
import { dropSchema, newSchema, testDatabaseUrl } from './db-under-test';
import { csrfFrom, ON_POSTGRES, sqlOf, startTestServer, tempDir, type Agent, type Sql, type TestServer } from './helpers';

let srv: TestServer;
let admin: Member;
beforeAll(async () => {
  srv = await startTestServer();
  admin = await member(srv, 'head'); // the first account is the administrator
});
afterAll(() => srv.close());

async function post(agent: Agent, url: string, form: Record<string, string | string[]>, page = '/admin/groups') {
  const _csrf = csrfFrom((await agent.get(page)).text);
  return agent.post(url).type('form').send({ _csrf, ...form });
}

let seq = 0;
async function groupWith(members: Member[]): Promise<number> {
  const name = `Class ${++seq}`;
  await post(admin.agent, '/admin/groups', { name });
  const id = Number(await srv.sql.value('SELECT id FROM groups WHERE name = ?', name));
  if (members.length) expect((await post(admin.agent, `/admin/groups/${id}/members/add`, { users: members.map((m) => String(m.id)) }, `/admin/groups/${id}`)).status).toBe(303);
  return id;
}

const config = (id: number) =>
  srv.sql.get('SELECT allowance, allowance_period AS period, allowance_mode AS mode, allowance_cap AS cap, allowance_join AS "join" FROM groups WHERE id = ?', id);
const bucket = (userId: number, groupId: number) => srv.sql.get('SELECT balance, size FROM allowances WHERE user_id = ? AND group_id = ?', userId, groupId);
const audits = (action: string) => srv.sql.all<{ actor: number; detail: string }>('SELECT actor_id AS actor, detail FROM admin_audit WHERE action = ? ORDER BY id', action);
const setForm = (over: Record<string, string> = {}) => ({ amount: '5000', period: 'month', mode: 'reset', cap: '', join: 'full', apply: 'next', ...over });

describe('the allowance form of a group', () => {
  test('POST sets it: the member\'s bucket holds it, the page shows it left with the refill date, and it is audited', async () => {
    const ann = await member(srv, 'ann');
    const id = await groupWith([ann]);
    const res = await post(admin.agent, `/admin/groups/${id}/allowance`, setForm({ amount: '5,000' }), `/admin/groups/${id}`);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/admin/groups/${id}?allowance=saved#allowance`);
    expect(await config(id)).toEqual({ allowance: 5000, period: 'month', mode: 'reset', cap: null, join: 'full' });
    expect(await bucket(ann.id, id)).toEqual({ balance: 5000, size: 5000 });
    const page = await admin.agent.get(res.headers.location);
    expect(page.text).toContain('The allowance was saved.');
    expect(page.text).toMatch(/Left this period, all of them together<\/dt><dd>5,000 of 5,000<\/dd>/);
    expect(page.text).toMatch(/Next refill<\/dt><dd><time datetime="\d{4}-\d\d-\d\dT[\d:.]+Z">/);
    expect(page.text).toMatch(/<input id="amount" name="amount" type="text" autocomplete="off"\s+value="5000"/);
    const audit = (await audits('group_allowance')).at(-1)!;
    expect(audit.actor).toBe(admin.id);
    expect(JSON.parse(audit.detail)).toMatchObject({ group: `Class ${seq}`, allowance: { amount: 5000, period: 'month', mode: 'reset' }, was: null });
  });

  test('a change "now" applies the difference to this period once; "from the next period" leaves the bucket as it is', async () => {
    const bo = await member(srv, 'bo');
    const id = await groupWith([bo]);
    await post(admin.agent, `/admin/groups/${id}/allowance`, setForm(), `/admin/groups/${id}`);
    expect((await post(admin.agent, `/admin/groups/${id}/allowance`, setForm({ amount: '8000', apply: 'now' }), `/admin/groups/${id}`)).status).toBe(303);
    expect(await bucket(bo.id, id)).toEqual({ balance: 8000, size: 8000 });
    expect((await post(admin.agent, `/admin/groups/${id}/allowance`, setForm({ amount: '2000', apply: 'next' }), `/admin/groups/${id}`)).status).toBe(303);
    expect(await bucket(bo.id, id)).toEqual({ balance: 8000, size: 8000 });
    expect((await config(id))!.allowance).toBe(2000);
    // An empty amount removes the allowance and takes back what is left (an expire row).
    expect((await post(admin.agent, `/admin/groups/${id}/allowance`, setForm({ amount: '' }), `/admin/groups/${id}`)).status).toBe(303);
    expect((await config(id))!.allowance).toBeNull();
    expect(await bucket(bo.id, id)).toMatchObject({ balance: 0 });
    expect(await srv.sql.value("SELECT amount FROM allowance_ledger WHERE user_id = ? AND kind = 'expire' ORDER BY id DESC LIMIT 1", bo.id)).toBe(-8000);
    expect((await admin.agent.get(`/admin/groups/${id}`)).text).toContain('This group gives no allowance.');
  });

  test('add mode keeps its cap; a cap below the amount or a bad amount is 422 on that field and changes nothing', async () => {
    const cy = await member(srv, 'cy');
    const id = await groupWith([cy]);
    expect((await post(admin.agent, `/admin/groups/${id}/allowance`, setForm({ amount: '1000', mode: 'add', cap: '3000', period: 'week', join: 'prorata' }), `/admin/groups/${id}`)).status).toBe(303);
    expect(await config(id)).toEqual({ allowance: 1000, period: 'week', mode: 'add', cap: 3000, join: 'prorata' });
    const before = (await audits('group_allowance')).length;
    const rows = await srv.sql.value('SELECT count(*) FROM allowance_ledger');

    const low = await post(admin.agent, `/admin/groups/${id}/allowance`, setForm({ amount: '5000', mode: 'add', cap: '100' }), `/admin/groups/${id}`);
    expect(low.status).toBe(422);
    expect(low.text).toContain('The cap is a whole number of tokens, at least the amount (5000), or empty for none.');
    expect(low.text).toMatch(/<input id="cap" name="cap" type="text" autocomplete="off"\s+value="100" maxlength="20" aria-invalid="true"\s+aria-describedby="cap-hint cap-error">/);

    const bad = await post(admin.agent, `/admin/groups/${id}/allowance`, setForm({ amount: 'lots' }), `/admin/groups/${id}`);
    expect(bad.status).toBe(422);
    expect(bad.text).toContain('id="amount-error">The amount is a whole number of tokens from 1 to');
    expect(bad.text).toMatch(/value="lots"/);

    const period = await post(admin.agent, `/admin/groups/${id}/allowance`, setForm({ period: 'year' }), `/admin/groups/${id}`);
    expect(period.status).toBe(422);
    expect(period.text).toContain('id="allowance-period-error">Choose a day, a week or a month.');

    expect(await config(id)).toEqual({ allowance: 1000, period: 'week', mode: 'add', cap: 3000, join: 'prorata' });
    expect((await audits('group_allowance')).length).toBe(before);
    expect(await srv.sql.value('SELECT count(*) FROM allowance_ledger')).toBe(rows);
  });

  test('the page lists who spent most this period, members only', async () => {
    const di = await member(srv, 'di');
    const ed = await member(srv, 'ed');
    const outsider = await member(srv, 'outsider');
    const id = await groupWith([di, ed]);
    await post(admin.agent, `/admin/groups/${id}/allowance`, setForm({ amount: '9000' }), `/admin/groups/${id}`);
    await chatTurn(srv, di.id, { key: 'di-1', prompt: 10, completion: 20 });
    await chatTurn(srv, ed.id, { key: 'ed-1', prompt: 100, completion: 200 });
    await chatTurn(srv, outsider.id, { key: 'out-1', prompt: 1000, completion: 1 });
    const page = (await admin.agent.get(`/admin/groups/${id}`)).text;
    const top = page.slice(page.indexOf('Spent most this period'));
    expect(top).toMatch(new RegExp(`<a href="/admin/users/${ed.id}">ed</a></th><td class="num">300</td></tr>\\s*<tr><th scope="row"><a href="/admin/users/${di.id}">di</a></th><td class="num">30</td>`));
    expect(top).not.toContain('outsider');
    // What they spent came from the allowance first.
    expect(page).toMatch(/<dd>17,670 of 18,000<\/dd>/);
  });

  test("Everyone's allowance reaches the people in no group, who get it at their next turn", async () => {
    const everyone = Number(await srv.sql.value('SELECT id FROM groups WHERE builtin = 1'));
    expect((await post(admin.agent, `/admin/groups/${everyone}/allowance`, setForm({ amount: '700', period: 'day' }), `/admin/groups/${everyone}`)).status).toBe(303);
    expect((await config(everyone))!.allowance).toBe(700);
    const fay = await member(srv, 'fay');
    await chatTurn(srv, fay.id, { key: 'fay-1', prompt: 1, completion: 1 });
    expect(await bucket(fay.id, everyone)).toEqual({ balance: 698, size: 700 });
    const ungrouped = await srv.sql.value('SELECT count(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM group_members m WHERE m.user_id = u.id)');
    const page = (await admin.agent.get(`/admin/groups/${everyone}`)).text;
    expect(page).toContain(`People it reaches</dt><dd>${Number(ungrouped)}</dd>`);
    expect(page).toContain('Everyone&#39;s allowance goes to every user in no other group');
    expect(page).toContain(`<a href="/admin/users/${fay.id}">fay</a>`);
    await post(admin.agent, `/admin/groups/${everyone}/allowance`, setForm({ amount: '' }), `/admin/groups/${everyone}`);
  });
});

describe('the time zone form', () => {
  test('shows the zone; POST sets a valid IANA zone, audited; a bad one is 422 and changes nothing', async () => {
    const list = await admin.agent.get('/admin/groups');
    expect(list.text).toMatch(/<input id="zone" name="zone" type="text" autocomplete="off"\s+value="[^"]+"/);
    expect(list.text).toContain('This server&#39;s own zone, the default, is');
    const res = await post(admin.agent, '/admin/groups/zone', { zone: ' Asia/Shanghai ' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/admin/groups?zone=saved#zone');
    expect(await srv.sql.value("SELECT value FROM app_settings WHERE key = 'time_zone'")).toBe('Asia/Shanghai');
    const saved = await admin.agent.get(res.headers.location);
    expect(saved.text).toContain('The time zone was saved.');
    expect(saved.text).toContain('Periods are counted in Asia/Shanghai.');
    expect(JSON.parse((await audits('time_zone')).at(-1)!.detail)).toMatchObject({ zone: 'Asia/Shanghai' });

    const bad = await post(admin.agent, '/admin/groups/zone', { zone: 'Mars/Olympus' });
    expect(bad.status).toBe(422);
    expect(bad.text).toContain('id="zone-error">“Mars/Olympus” is not a time zone this server knows.');
    expect(bad.text).toMatch(/value="Mars\/Olympus"/);
    expect(await srv.sql.value("SELECT value FROM app_settings WHERE key = 'time_zone'")).toBe('Asia/Shanghai');
    expect((await audits('time_zone')).length).toBe(1);

    // The group page counts its period and refill time in that zone.
    const id = await groupWith([]);
    await post(admin.agent, `/admin/groups/${id}/allowance`, setForm({ amount: '10' }), `/admin/groups/${id}`);
    expect((await admin.agent.get(`/admin/groups/${id}`)).text).toContain('Times in the organisation&#39;s time zone, Asia/Shanghai.');
  });

  test('in Chinese the form and its hints read in Chinese', async () => {
    const id = Number(await srv.sql.value('SELECT id FROM groups WHERE builtin = 1'));
    const page = await admin.agent.get(`/admin/groups/${id}`).set('Accept-Language', 'zh-CN');
    expect(page.text).toContain('每位成员每个周期的令牌数');
    expect(page.text).toContain('立即生效（差额只调整一次）');
  });
});

describe('nobody else', () => {
  test('a member gets 404 from both forms, the signed-out 403 (no CSRF token), and nothing changes', async () => {
    const gus = await member(srv, 'gus');
    const id = await groupWith([gus]);
    const before = await config(id);
    const zone = await srv.sql.value("SELECT value FROM app_settings WHERE key = 'time_zone'");
    const _csrf = csrfFrom((await gus.agent.get('/usage')).text);
    for (const [url, form] of [[`/admin/groups/${id}/allowance`, setForm()], ['/admin/groups/zone', { zone: 'UTC' }]] as const) {
      expect({ url, status: (await gus.agent.post(url).type('form').send({ _csrf, ...form })).status }).toEqual({ url, status: 404 });
      expect({ url, status: (await request(srv.url).post(url).type('form').send(form)).status }).toEqual({ url, status: 403 });
    }
    expect(await config(id)).toEqual(before);
    expect(await srv.sql.value("SELECT value FROM app_settings WHERE key = 'time_zone'")).toBe(zone);
    expect(await srv.sql.value('SELECT count(*) FROM allowances WHERE user_id = ?', gus.id)).toBe(0);
  });

  test('an unknown group is 404', async () => {
    expect((await post(admin.agent, '/admin/groups/99999/allowance', setForm())).status).toBe(404);
  });
});

describe('tokenchat allowance', () => {
  const CLI = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
  let env: Record<string, string>;
  let dataDir: string;
  let schema: string | undefined;

  const tokenchat = (args: string[], input = ''): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = execFile('node', [CLI, ...args], { env: { PATH: process.env.PATH!, ...env } }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      child.stdin!.end(input);
    });
  async function withSql<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    const database = openStore({ dataDir, databaseUrl: schema ? testDatabaseUrl() : undefined, databasePoolSize: 1, sessionIdleMs: 60_000 }, schema);
    try {
      return await fn(sqlOf(database));
    } finally {
      await database.close();
    }
  }
  const ok = async (args: string[], input = '') => {
    const run = await tokenchat(args, input);
    expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
    return run.stdout;
  };

  beforeAll(async () => {
    dataDir = tempDir();
    env = { DATA_DIR: dataDir };
    if (ON_POSTGRES) {
      // The CLI's schema is named in the connection's search_path, as in cli.test.ts.
      schema = newSchema();
      await schemaOn(testDatabaseUrl(), schema, 'create');
      const url = new URL(testDatabaseUrl());
      url.searchParams.set('options', `-c search_path=${schema}`);
      env = { ...env, DATABASE_URL: url.toString(), SESSION_SECRET: 'test-secret-test-secret-test-secret-1234' };
    }
    await ok(['user', 'add', 'hal'], 'correct horse battery\n');
    await ok(['user', 'add', 'ivy'], 'correct horse battery\n');
    await ok(['group', 'create', 'Class 9']);
    await ok(['group', 'add', 'Class 9', 'hal', 'ivy']);
  }, 60_000);
  afterAll(async () => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    if (schema) await dropSchema(schema);
  });

  const cliConfig = () => withSql((sql) => sql.get('SELECT allowance, allowance_period AS period, allowance_mode AS mode, allowance_cap AS cap, allowance_join AS "join" FROM groups WHERE name = ?', 'Class 9'));
  const cliBuckets = () => withSql((sql) => sql.all('SELECT u.username, a.balance, a.size FROM allowances a JOIN users u ON u.id = a.user_id ORDER BY u.username'));

  test('set gives the members their buckets, audited as by the command line; show lists them', async () => {
    const zone = (await ok(['allowance', 'zone'])).split(' ')[0];
    const before = new Date();
    expect(await ok(['allowance', 'set', '--group', 'Class 9', '--amount', '3000', '--period', 'week', '--mode', 'add', '--cap', '9000', '--join', 'prorata']))
      .toContain('Class 9: 3000 tokens a week, added each period up to 9000');
    const after = new Date();
    expect(await cliConfig()).toEqual({ allowance: 3000, period: 'week', mode: 'add', cap: 9000, join: 'prorata' });
    const buckets = await cliBuckets();
    expect(buckets.map((b: { username: string }) => b.username)).toEqual(['hal', 'ivy']);
    // Pro rata: the part of the week still to come when the command ran (0 in a week's last minutes,
    // all of it just after a week turns), bounded by the clock read on either side of the command.
    const share = (at: Date) => Math.floor(3000 * partLeft(periodOf('week', zone, at), at));
    for (const b of buckets as { balance: number; size: number }[]) {
      expect(b.balance).toBeGreaterThanOrEqual(Math.min(share(before), share(after)));
      expect(b.balance).toBeLessThanOrEqual(Math.max(share(before), share(after)));
    }
    expect(await withSql((sql) => sql.get("SELECT actor_id AS actor, detail FROM admin_audit WHERE action = 'group_allowance'"))).toMatchObject({ actor: null });

    // A change "now" with only --amount keeps the period, mode, cap and join.
    await ok(['allowance', 'set', '--group', 'Class 9', '--amount', '4000', '--apply', 'now']);
    expect(await cliConfig()).toEqual({ allowance: 4000, period: 'week', mode: 'add', cap: 9000, join: 'prorata' });

    const shown = await ok(['allowance', 'show', '--group', 'Class 9']);
    expect(shown).toContain('allowance: 4000 tokens a week');
    expect(shown).toMatch(/^user\tleft\tsize\tperiod$/m);
    expect(shown).toMatch(/^hal\t\d+\t\d+\t\d{4}-W\d\d$/m);
    const json = JSON.parse(await ok(['allowance', 'show', '--group', 'Class 9', '--json']));
    expect(json.allowance).toEqual({ amount: 4000, period: 'week', mode: 'add', cap: 9000, join: 'prorata' });
    expect(json.buckets.map((b: { user: string }) => b.user)).toEqual(['hal', 'ivy']);
  });

  test('bad input exits 1 with a line naming the option, and changes nothing', async () => {
    const before = await cliConfig();
    const audits = await withSql((sql) => sql.value("SELECT count(*) FROM admin_audit WHERE action = 'group_allowance'"));
    for (const [args, message] of [
      [['--amount', 'lots'], '--amount must be a whole number from 1 to'],
      [['--amount', '100', '--period', 'year'], '--period must be day or week or month, not "year"'],
      [['--amount', '100', '--mode', 'keep'], '--mode must be reset or add, not "keep"'],
      [['--amount', '100', '--mode', 'add', '--cap', '50'], 'The cap is a whole number of tokens, at least the amount (100)'],
      [['--amount', '100', '--mode', 'reset', '--cap', '500'], '--cap is for --mode add only'],
      [['--amount', '100', '--apply', 'later'], '--apply must be now or next, not "later"'],
    ] as const) {
      const run = await tokenchat(['allowance', 'set', '--group', 'Class 9', ...args]);
      expect({ args, code: run.code }).toEqual({ args, code: 1 });
      expect(run.stderr).toContain(message);
    }
    const missing = await tokenchat(['allowance', 'set', '--group', 'No such', '--amount', '5']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no group named "No such"');
    expect(await cliConfig()).toEqual(before);
    expect(await withSql((sql) => sql.value("SELECT count(*) FROM admin_audit WHERE action = 'group_allowance'"))).toBe(audits);
  });

  test('zone shows the zone, sets a valid one, refuses a bad one; --amount none removes the allowance', async () => {
    expect(await ok(['allowance', 'zone'])).toMatch(/^\S+ \(this server's own zone: \S+\)\n$/);
    expect(await ok(['allowance', 'zone', 'Asia/Shanghai'])).toContain('time zone: Asia/Shanghai');
    expect(await ok(['allowance', 'zone'])).toMatch(/^Asia\/Shanghai /);
    const bad = await tokenchat(['allowance', 'zone', 'Mars/Olympus']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('“Mars/Olympus” is not a time zone this server knows.');
    expect(await withSql((sql) => sql.value("SELECT value FROM app_settings WHERE key = 'time_zone'"))).toBe('Asia/Shanghai');

    expect(await ok(['allowance', 'set', '--group', 'Class 9', '--amount', 'none'])).toContain('Class 9: no allowance');
    expect((await cliConfig())!.allowance).toBeNull();
    expect((await cliBuckets()).map((b: { balance: number }) => b.balance)).toEqual([0, 0]);
  });
});
