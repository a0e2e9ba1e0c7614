// The API keys page: a key is shown once in full and kept only as a hash; listed by name, prefix
// and last four with what it spent; revoked by its owner only.
import { hashKey } from '../src/accounts/api-keys';
import { csrfFrom, startTestServer, type TestServer } from './helpers';
import { newUser, type User } from './chat-helpers';

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', LOGIN_RATE_LIMIT_PER_IP: '10000' });
});
afterAll(async () => srv.close());

async function makeKey(user: User, fields: Record<string, string | string[]>) {
  const page = await user.agent.get('/keys');
  return user.agent.post('/keys').type('form').send({ _csrf: csrfFrom(page.text), ...fields });
}
const shownKey = (html: string) => /id="made-key"[^>]*value="(tc-[0-9A-Za-z]{32})"/.exec(html)?.[1];

describe('/keys', () => {
  test('POST /keys shows the new key once; the database keeps only its hash; the list shows prefix and last four', async () => {
    const user = await newUser(srv);
    const res = await makeKey(user, { name: 'laptop', models: ['gpt-4o-mini'], per_day: '500', total: '' });
    expect(res.status).toBe(201);
    const key = shownKey(res.text)!;
    expect(key).toBeDefined();
    const row = await srv.sql.get<{ hash: string; models: string; per_day: number; total: number | null }>('SELECT hash, models, per_day, total FROM api_keys WHERE user_id = ?', user.id);
    expect(row).toEqual({ hash: hashKey(key), models: '["gpt-4o-mini"]', per_day: 500, total: null });
    expect(JSON.stringify(await srv.sql.all('SELECT * FROM api_keys'))).not.toContain(key);
    const again = await user.agent.get('/keys');
    expect(again.text).not.toContain(key);
    expect(again.text).toContain(`${key.slice(0, 7)}…${key.slice(-4)}`);
    expect(again.text).toContain('500 a day');
    // In Chinese too.
    expect((await user.agent.get('/keys').set('Accept-Language', 'zh-CN')).text).toContain('每天 500');
  });

  test.each([
    [{ name: '' }, 'Give the key a name'],
    [{ name: 'x'.repeat(61) }, 'Give the key a name'],
    [{ name: 'ok', expires: '2001-01-01' }, 'Enter a date in the future'],
    [{ name: 'ok', models: 'no-such-model' }, 'Choose models from the list'],
    [{ name: 'ok', per_day: '-5' }, 'Enter a whole number of tokens'],
  ])('POST /keys with %j is re-rendered with 422 and makes no key', async (fields, message) => {
    const user = await newUser(srv);
    const res = await makeKey(user, fields);
    expect(res.status).toBe(422);
    expect(res.text).toContain(message);
    expect(shownKey(res.text)).toBeUndefined();
    expect(Number(await srv.sql.value('SELECT count(*) FROM api_keys WHERE user_id = ?', user.id))).toBe(0);
  });

  test('the same form sent twice (a reload, a double click) makes one key, and the second answer shows none', async () => {
    const user = await newUser(srv);
    const page = await user.agent.get('/keys');
    const formId = /name="form_id" value="([^"]+)"/.exec(page.text)![1]!;
    const send = () => user.agent.post('/keys').type('form').send({ _csrf: csrfFrom(page.text), form_id: formId, name: 'twice' });
    const [a, b] = await Promise.all([send(), send()]);
    expect([a.status, b.status].sort()).toEqual([201, 409]);
    const second = a.status === 409 ? a : b;
    expect(shownKey(second.text)).toBeUndefined();
    expect(second.text).toContain('That form was already sent');
    expect(Number(await srv.sql.value('SELECT count(*) FROM api_keys WHERE user_id = ?', user.id))).toBe(1);
  });

  test('a key is revoked by its owner; another user\'s key id is a 404 and stays active', async () => {
    const owner = await newUser(srv);
    const other = await newUser(srv);
    await makeKey(owner, { name: 'mine' });
    const id = await srv.sql.value<number>('SELECT id FROM api_keys WHERE user_id = ?', owner.id);
    const page = await other.agent.get('/keys');
    const theirs = await other.agent.post(`/keys/${id}/revoke`).type('form').send({ _csrf: csrfFrom(page.text), confirm: '1' });
    expect(theirs.status).toBe(404);
    expect(await srv.sql.value('SELECT revoked_at FROM api_keys WHERE id = ?', id)).toBeNull();
    const mine = await owner.agent.post(`/keys/${id}/revoke`).type('form').send({ _csrf: csrfFrom((await owner.agent.get('/keys')).text), confirm: '1' });
    expect(mine.status).toBe(303);
    expect(await srv.sql.value('SELECT revoked_at FROM api_keys WHERE id = ?', id)).not.toBeNull();
    expect((await owner.agent.get('/keys?revoked=1')).text).toContain('The key was revoked');
  });

  test('the page needs a session, and a key is never a session', async () => {
    const anonymous = await srv.agent().get('/keys');
    expect(anonymous.status).toBe(303);
  });
});

describe('/admin/users/:id: API keys', () => {
  test('an admin sees a user\'s keys and revokes one, audited; the key fails on its next call', async () => {
    const { findByName } = await import('../src/accounts/users');
    const { login } = await import('./helpers');
    const { createUser } = await import('../src/accounts/users');
    const { PasswordHasher } = await import('../src/accounts/passwords');
    await createUser(srv.database, new PasswordHasher(2, 10), { username: 'keyadmin', password: 'correct horse battery', role: 'admin' }, { signupBonus: 0 });
    const admin = srv.agent();
    expect((await login(admin, 'keyadmin')).status).toBe(303);
    const user = await newUser(srv);
    const made = await makeKey(user, { name: 'script' });
    const key = shownKey(made.text)!;
    const id = await srv.sql.value<number>('SELECT id FROM api_keys WHERE user_id = ?', user.id);
    const page = await admin.get(`/admin/users/${user.id}`);
    expect(page.text).toContain(`${key.slice(0, 7)}…${key.slice(-4)}`);
    const res = await admin.post(`/admin/users/${user.id}/keys/${id}/revoke`).type('form').send({ _csrf: csrfFrom(page.text), confirm: '1' });
    expect(res.status).toBe(303);
    const after = await admin.get(`/admin/users/${user.id}?done=key_revoked`);
    expect(after.text).toContain('The key was revoked.');
    expect(after.text).toContain('Revoked an API key');
    const adminId = (await srv.database.read(findByName, 'keyadmin'))!.id;
    expect(await srv.sql.get('SELECT actor_id AS actor, action FROM admin_audit WHERE target_user_id = ? ORDER BY id DESC LIMIT 1', user.id)).toEqual({ actor: adminId, action: 'key_revoke' });
    const call = await fetch(`${srv.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    expect(call.status).toBe(401);
  });
});
