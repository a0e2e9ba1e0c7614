// /admin/api/ (issue 25): admin keys made on /admin/api-keys (shown once, hashed, scoped, expiring,
// revocable); JSON endpoints running the pages' audited operations with the key named on each
// audit row; a session cookie never works there, an admin key never works on the pages, a member's
// key is 403; pagination; one error shape; the OpenAPI document describes every route.
import request from 'supertest';
import { hashKey } from '../src/accounts/api-keys';
import { ADMIN_API_ROUTES } from '../src/http/routes/admin-api';
import { openApiPath } from '../src/http/admin-api/openapi';
import { member, type Member } from './dashboard-helpers';
import { csrfFrom, startTestServer, type TestServer } from './helpers';

let srv: TestServer;
let admin: Member;
let alice: Member;
let writeKey: string;
let readKey: string;
beforeAll(async () => {
  srv = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', LOGIN_RATE_LIMIT_PER_IP: '10000' });
  admin = await member(srv, 'boss');
  alice = await member(srv, 'alice');
  writeKey = await makeKey('scripts', 'write');
  readKey = await makeKey('reports', 'read');
});
afterAll(() => srv.close());

async function makeKeyPage(form: Record<string, string>) {
  const page = await admin.agent.get('/admin/api-keys');
  return admin.agent.post('/admin/api-keys').type('form').send({ _csrf: csrfFrom(page.text), ...form });
}
async function makeKey(name: string, scope: string, days = '30'): Promise<string> {
  const res = await makeKeyPage({ name, scope, days });
  expect(res.status).toBe(201);
  return /id="made-key"[^>]*value="(tca-[0-9A-Za-z]{32})"/.exec(res.text)![1]!;
}
const api = (key: string | null) => {
  const r = request(srv.url);
  const auth = (t: request.Test) => (key ? t.set('Authorization', `Bearer ${key}`) : t);
  return {
    get: (p: string) => auth(r.get(`/admin/api${p}`)),
    post: (p: string, body: object = {}) => auth(r.post(`/admin/api${p}`).send(body)),
    put: (p: string, body: object) => auth(r.put(`/admin/api${p}`).send(body)),
    patch: (p: string, body: object) => auth(r.patch(`/admin/api${p}`).send(body)),
    delete: (p: string) => auth(r.delete(`/admin/api${p}`)),
  };
};
const keyId = async (key: string) => (await srv.sql.get<{ id: number }>('SELECT id FROM admin_api_keys WHERE hash = ?', hashKey(key)))!.id;
const lastAudit = (action: string) => srv.sql.get<{ actor: number; key: number | null; target: number | null; detail: string }>(
  'SELECT actor_id AS actor, api_key_id AS "key", target_user_id AS target, detail FROM admin_audit WHERE action = ? ORDER BY id DESC LIMIT 1', action);
const balanceOf = async (id: number) => (await srv.sql.get<{ b: number }>('SELECT balance AS b FROM balances WHERE user_id = ?', id))!.b;

describe('keys page', () => {
  test('a key is shown once, kept as its hash, listed with its scope; a bad form is 422 with the field named', async () => {
    const row = await srv.sql.get<{ hash: string; scope: string; created_by: number }>('SELECT hash, scope, created_by FROM admin_api_keys WHERE name = ?', 'scripts');
    expect(row).toEqual({ hash: hashKey(writeKey), scope: 'write', created_by: admin.id });
    const page = await admin.agent.get('/admin/api-keys');
    expect(page.text).not.toContain(writeKey);
    expect(page.text).toContain(`${writeKey.slice(0, 8)}…${writeKey.slice(-4)}`);
    expect(page.text).toContain('<a href="/admin/api-keys" aria-current="page">Admin API keys</a>');
    const bad = await makeKeyPage({ name: 'x', scope: 'read', days: '0' });
    expect(bad.status).toBe(422);
    expect(bad.text).toMatch(/aria-describedby="days-hint days-error"/);
    expect(await srv.sql.get('SELECT id FROM admin_api_keys WHERE name = ?', 'x')).toBeUndefined();
    expect((await lastAudit('admin_key_create'))!.actor).toBe(admin.id);
  });

  test('a member does not reach the keys page', async () => {
    expect((await alice.agent.get('/admin/api-keys')).status).toBe(404);
  });
});

describe('who may call', () => {
  test('no key, a session cookie, a member key, a read key on a write: refused in one JSON shape', async () => {
    const none = await api(null).get('/users');
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ error: { code: 'no_key', message: expect.any(String) } });
    const cookie = await admin.agent.get('/admin/api/users');
    expect(cookie.status).toBe(401);
    const page = await alice.agent.get('/keys');
    const made = await alice.agent.post('/keys').type('form').send({ _csrf: csrfFrom(page.text), name: 'mine', total: '' });
    const memberKey = /value="(tc-[0-9A-Za-z]{32})"/.exec(made.text)![1]!;
    const refused = await api(memberKey).get('/users');
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('member_key');
    const readOnly = await api(readKey).post('/groups', { name: 'Nope' });
    expect(readOnly.status).toBe(403);
    expect(readOnly.body.error.code).toBe('read_only');
    expect(await srv.sql.get('SELECT id FROM groups WHERE name = ?', 'Nope')).toBeUndefined();
  });

  test('an admin key never works on the pages', async () => {
    const res = await request(srv.url).get('/admin/users').set('Authorization', `Bearer ${writeKey}`);
    expect(res.status).not.toBe(200);
    expect(res.text).not.toContain('alice');
  });

  test('reads are counted on the key: uses and last use', async () => {
    const before = (await srv.sql.get<{ uses: number }>('SELECT uses FROM admin_api_keys WHERE hash = ?', hashKey(readKey)))!.uses;
    expect((await api(readKey).get('/groups')).status).toBe(200);
    const after = await srv.sql.get<{ uses: number; last: string | null }>('SELECT uses, last_used_at AS last FROM admin_api_keys WHERE hash = ?', hashKey(readKey));
    expect(after!.uses).toBe(before + 1);
    expect(after!.last).not.toBeNull();
  });

  test('a revoked key and an expired key are 401', async () => {
    const doomed = await makeKey('doomed', 'write');
    expect((await api(doomed).get('/users')).status).toBe(200);
    const page = await admin.agent.get('/admin/api-keys');
    const revoke = await admin.agent.post(`/admin/api-keys/${await keyId(doomed)}/revoke`).type('form').send({ _csrf: csrfFrom(page.text) });
    expect(revoke.status).toBe(303);
    const res = await api(doomed).get('/users');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('revoked');
    const old = await makeKey('old', 'read');
    await srv.sql.run('UPDATE admin_api_keys SET expires_at = ? WHERE hash = ?', '2000-01-01T00:00:00.000Z', hashKey(old));
    expect((await api(old).get('/users')).body.error.code).toBe('expired');
  });
});

describe('users', () => {
  test('list and search, paginated; one user; unknown user 404', async () => {
    const page1 = await api(readKey).get('/users?per_page=1');
    expect(page1.status).toBe(200);
    expect(page1.body.users).toHaveLength(1);
    expect(page1.body.next_page).toBe(2);
    const found = await api(readKey).get('/users?q=ali');
    expect(found.body.users.map((u: { username: string }) => u.username)).toEqual(['alice']);
    const one = await api(readKey).get(`/users/${alice.id}`);
    expect(one.body.user).toMatchObject({ id: alice.id, username: 'alice' });
    expect((await api(readKey).get('/users/999999')).status).toBe(404);
  });

  test('create: 201 and audited with the key; a taken name is 422 naming the field', async () => {
    const res = await api(writeKey).post('/users', { username: 'carol', password: 'correct horse battery' });
    expect(res.status).toBe(201);
    expect(res.body.user.username).toBe('carol');
    expect(await lastAudit('user_create')).toMatchObject({ actor: admin.id, key: await keyId(writeKey), target: res.body.user.id });
    const again = await api(writeKey).post('/users', { username: 'carol', password: 'correct horse battery' });
    expect(again.status).toBe(422);
    expect(again.body.error).toMatchObject({ code: 'username_taken', field: 'username' });
  });

  test('grant and deduct change the balance through the ledger, audited with the key; below zero is refused, nothing changed', async () => {
    const start = await balanceOf(alice.id);
    const granted = await api(writeKey).post(`/users/${alice.id}/grant`, { amount: 500, note: 'term' });
    expect(granted.status).toBe(200);
    expect(granted.body.balance).toBe(start + 500);
    expect(await lastAudit('grant')).toMatchObject({ actor: admin.id, key: await keyId(writeKey), target: alice.id });
    const tooMuch = await api(writeKey).post(`/users/${alice.id}/deduct`, { amount: start + 501 });
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.body.error.code).toBe('below_zero');
    expect(await balanceOf(alice.id)).toBe(start + 500);
    expect((await api(writeKey).post(`/users/${alice.id}/deduct`, { amount: 100 })).body.balance).toBe(start + 400);
    const bad = await api(writeKey).post(`/users/${alice.id}/grant`, { amount: 'lots' });
    expect(bad.status).toBe(422);
    expect(bad.body.error.field).toBe('amount');
    const rows = await srv.sql.all<{ kind: string; amount: number; after: number }>('SELECT kind, amount, balance_after AS after FROM ledger WHERE user_id = ? ORDER BY id DESC LIMIT 2', alice.id);
    expect(rows.map((r) => [r.kind, Number(r.amount), Number(r.after)])).toEqual([['adjust', -100, start + 400], ['grant', 500, start + 500]]);
  });

  test('disable and enable; disabling twice is 422', async () => {
    const carol = (await srv.sql.get<{ id: number }>('SELECT id FROM users WHERE username = ?', 'carol'))!.id;
    expect((await api(writeKey).post(`/users/${carol}/disable`)).body.user.disabled).toBe(1);
    expect((await api(writeKey).post(`/users/${carol}/disable`)).status).toBe(422);
    expect(await lastAudit('disable')).toMatchObject({ key: await keyId(writeKey), target: carol });
    expect((await api(writeKey).post(`/users/${carol}/enable`)).body.user.disabled).toBe(0);
  });

  test('user limits set and shown; a bad limit is 422', async () => {
    const res = await api(writeKey).put(`/users/${alice.id}/limits`, { tokens_per_day: 1000, requests_per_minute: null });
    expect(res.status).toBe(200);
    expect(res.body.limits.tokens_per_day).toBe(1000);
    expect((await api(readKey).get(`/users/${alice.id}`)).body.limits.tokens_per_day).toBe(1000);
    const bad = await api(writeKey).put(`/users/${alice.id}/limits`, { tokens_per_day: -5 });
    expect(bad.status).toBe(422);
    expect(bad.body.error.field).toBe('tokens_per_day');
    expect((await api(readKey).get(`/users/${alice.id}/usage`)).status).toBe(200);
  });
});

describe('groups', () => {
  test('create, rename, rules, members, allowance, limits, delete: each audited with the key; refusals change nothing', async () => {
    const made = await api(writeKey).post('/groups', { name: 'Class 7' });
    expect(made.status).toBe(201);
    const id = made.body.group.id as number;
    expect(await lastAudit('group_create')).toMatchObject({ key: await keyId(writeKey) });
    expect((await api(writeKey).post('/groups', { name: 'Class 7' })).body.error).toMatchObject({ code: 'duplicate_name', field: 'name' });
    expect((await api(writeKey).patch(`/groups/${id}`, { name: 'Class 7B' })).body.group.name).toBe('Class 7B');
    const rules = await api(writeKey).put(`/groups/${id}/rules`, { models: null, price_percent: 50 });
    expect(rules.body.group.pricePercent).toBe(50);
    expect((await api(writeKey).put(`/groups/${id}/rules`, { models: null, price_percent: 0 })).status).toBe(422);
    expect((await api(writeKey).put(`/groups/${id}/rules`, { models: ['no-such-model'], price_percent: 50 })).body.error.field).toBe('models');
    expect((await api(writeKey).post(`/groups/${id}/members`, { user_ids: [alice.id] })).body.added).toEqual([alice.id]);
    expect((await api(writeKey).post(`/groups/${id}/members`, { user_ids: ['x'] })).status).toBe(422);
    expect((await api(readKey).get(`/groups/${id}/members`)).body.members.map((m: { username: string }) => m.username)).toEqual(['alice']);
    expect(await lastAudit('group_add')).toMatchObject({ key: await keyId(writeKey), target: alice.id });
    const allowance = await api(writeKey).put(`/groups/${id}/allowance`, { amount: 1000, period: 'month', apply: 'now' });
    expect(allowance.status).toBe(200);
    expect((await api(readKey).get(`/groups/${id}/allowance`)).body.allowance).toBeTruthy();
    expect((await api(writeKey).put(`/groups/${id}/allowance`, { amount: 1000, period: 'year' })).body.error.field).toBe('period');
    expect((await api(writeKey).put(`/groups/${id}/limits`, { answers_at_once: 2 })).body.limits.answers_at_once).toBe(2);
    expect((await api(readKey).get(`/groups/${id}/limits`)).body.limits.answers_at_once).toBe(2);
    expect((await api(writeKey).post(`/groups/${id}/members/remove`, { user_ids: [alice.id] })).body.removed).toEqual([alice.id]);
    expect((await api(writeKey).delete(`/groups/${id}`)).body.deleted).toBe(true);
    expect((await api(readKey).get(`/groups/${id}`)).status).toBe(404);
    expect((await api(writeKey).delete(`/groups/${id}`)).status).toBe(404);
  });

  test('groups list is paginated', async () => {
    await api(writeKey).post('/groups', { name: 'G1' });
    const first = await api(readKey).get('/groups?per_page=1');
    expect(first.body.groups).toHaveLength(1);
    expect(first.body.next_page).toBe(2);
    expect((await api(readKey).get('/groups?per_page=0')).body.error.field).toBe('per_page');
  });
});

describe('invites', () => {
  test('make a link (shown in that answer only), list it with its groups (never its token), revoke it; refusals change nothing', async () => {
    const group = (await api(writeKey).post('/groups', { name: 'Class 9' })).body.group.id as number;
    const made = await api(writeKey).post('/invites', { uses: 2, expires_in_days: 7, group_ids: [group], note: 'class 9' });
    expect(made.status).toBe(201);
    const { id, url } = made.body.invite as { id: number; url: string };
    expect(url).toMatch(/\/register\?invite=[A-Za-z0-9_-]{32}$/);
    expect(await lastAudit('invite_create')).toMatchObject({ key: await keyId(writeKey) });
    const listed = (await api(readKey).get('/invites')).body.invites.find((i: { id: number }) => i.id === id);
    expect(listed).toMatchObject({ state: 'live', uses: 0, maxUses: 2, note: 'class 9', groups: [expect.objectContaining({ groupId: group })] });
    expect(JSON.stringify(listed)).not.toContain(url.split('=')[1]);
    for (const bad of [{ uses: 0, expires_in_days: 7 }, { uses: 1, expires_in_days: 400 }, { uses: 1, expires_in_days: 7, group_ids: ['x'] }]) {
      expect((await api(writeKey).post('/invites', bad)).status).toBe(422);
    }
    expect((await api(readKey).post(`/invites/${id}/revoke`)).status).toBe(403);
    expect((await api(writeKey).post(`/invites/${id}/revoke`)).body).toEqual({ revoked: id });
    expect((await api(writeKey).post(`/invites/${id}/revoke`)).status).toBe(409);
    expect((await api(writeKey).post('/invites/999999/revoke')).status).toBe(404);
    expect((await api(readKey).get('/invites')).body.invites.find((i: { id: number }) => i.id === id).state).toBe('revoked');
  });
});

describe('reports and audit', () => {
  test('usage by group, by model, finance rows; a bad period is 422', async () => {
    const groups = await api(readKey).get('/reports/groups?period=week&at=2026-01-14');
    expect(groups.status).toBe(200);
    expect(groups.body.period.label).toBe('2026-W03');
    expect((await api(readKey).get('/reports/groups?period=year')).body.error.field).toBe('period');
    expect((await api(readKey).get('/reports/models')).body.models).toEqual(expect.any(Array));
    const finance = await api(readKey).get('/reports/finance?month=2026-01');
    expect(finance.body).toMatchObject({ period: { label: '2026-01' }, rows: [] });
    expect((await api(readKey).get('/reports/finance?month=jan')).status).toBe(422);
  });

  test('the audit log pages by cursor and names the key', async () => {
    const first = await api(readKey).get('/audit?limit=2');
    expect(first.body.audit).toHaveLength(2);
    const second = await api(readKey).get(`/audit?limit=2&cursor=${first.body.next_cursor}`);
    expect(second.body.audit[0].id).toBeLessThan(first.body.audit[1].id);
    const aboutAlice = await api(readKey).get(`/audit?user=${alice.id}&limit=200`);
    expect(aboutAlice.body.audit.every((r: { targetId: number }) => r.targetId === alice.id)).toBe(true);
    expect(aboutAlice.body.audit.some((r: { apiKeyId: number | null }) => r.apiKeyId !== null)).toBe(true);
  });

  test('an unknown endpoint is 404 in the same shape', async () => {
    expect((await api(readKey).get('/nothing')).body.error.code).toBe('not_found');
  });
});

describe('OpenAPI', () => {
  test('/admin/api/openapi.json describes every route, and nothing else', async () => {
    const res = await request(srv.url).get('/admin/api/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    const described = Object.entries(res.body.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`)).sort();
    const routed = ADMIN_API_ROUTES.map((r) => `${r.method} ${openApiPath(r.path)}`).sort();
    expect(described).toEqual(routed);
    expect(new Set(routed).size).toBe(routed.length);
  });
});
