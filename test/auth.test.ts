import SqliteDatabase from 'better-sqlite3';
import path from 'node:path';
import request from 'supertest';
import { findByName } from '../src/accounts/users';
import { setDisabled } from '../src/admin/actions';
import { csrfFrom, csrfToken, login, ON_POSTGRES, register, setCookie, startTestServer, type TestServer } from './helpers';

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({ LOGIN_RATE_LIMIT_PER_USER: '5', LOGIN_RATE_LIMIT_PER_IP: '1000', LOGIN_DELAY_MS: '100', LOGIN_DELAY_MAX_MS: '100' });
});
afterAll(() => srv.close());

/** Moves a stored session's sign-in time: in DATA_DIR/sessions.sqlite, or the sessions table on PostgreSQL. */
async function setSignedInAt(sid: string, signedInAt: number): Promise<void> {
  if (ON_POSTGRES) {
    const row = await srv.sql.get<{ sess: Record<string, unknown> }>('SELECT sess FROM sessions WHERE sid = ?', sid);
    expect(row).toBeDefined();
    expect(await srv.sql.run('UPDATE sessions SET sess = ? WHERE sid = ?', JSON.stringify({ ...row!.sess, signedInAt }), sid)).toBe(1);
    return;
  }
  const db = new SqliteDatabase(path.join(srv.dataDir, 'sessions.sqlite'));
  expect(db.prepare(`UPDATE sessions SET sess = json_set(sess, '$.signedInAt', ?) WHERE sid = ?`).run(signedInAt, sid).changes).toBe(1);
  db.close();
}

describe('registration, sign-in and sign-out', () => {
  test('POST /register -> home -> POST /logout -> POST /login, as a person with a browser would', async () => {
    const agent = srv.agent();
    const reg = await register(agent, 'alice');
    expect(reg.status).toBe(303);
    expect(reg.headers.location).toBe('/');
    const home = await agent.get('/');
    expect(home.status).toBe(200);
    expect(home.text).toContain('Signed in as alice.');
    // Back after signing out must not show the page from the browser's cache.
    expect(home.headers['cache-control']).toBe('no-store');
    expect((await agent.get('/static/app.css')).headers['cache-control']).not.toBe('no-store');

    const _csrf = await csrfToken(agent, '/');
    const out = await agent.post('/logout').type('form').send({ _csrf });
    expect(out.status).toBe(303);
    expect(out.headers.location).toBe('/login');
    expect((await agent.get('/')).headers.location).toBe('/login');

    const back = await login(agent, 'ALICE');
    expect(back.status).toBe(303);
    expect((await agent.get('/')).text).toContain('Signed in as alice.');
  });

  test('the stored password is an argon2id hash, never the password', async () => {
    await register(srv.agent(), 'hashcheck', 'a very secret phrase');
    const row = (await srv.sql.get<{ password_hash: string }>("SELECT password_hash FROM users WHERE username_key = 'hashcheck'"))!;
    expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    expect(row.password_hash).not.toContain('a very secret phrase');
  });

  test('POST /login gives a new session id, and the old one stops working', async () => {
    await register(srv.agent(), 'fixation');
    const agent = srv.agent();
    const first = await login(agent, 'fixation');
    const idA = setCookie(first, 'tc.sid');
    const _csrf = await csrfToken(agent, '/'); // already signed in: /login would redirect
    const second = await agent.post('/login').type('form').send({ _csrf, username: 'fixation', password: 'correct horse battery' });
    const idB = setCookie(second, 'tc.sid');
    expect(idA).toBeTruthy();
    expect(idB).toBeTruthy();
    expect(idB).not.toBe(idA);
    const withOld = await request(srv.url).get('/').set('Cookie', `tc.sid=${idA}`);
    expect(withOld.headers.location).toBe('/login');
    const withNew = await request(srv.url).get('/').set('Cookie', `tc.sid=${idB}`);
    expect(withNew.status).toBe(200);
  });

  test('POST /login — wrong password and unknown user get the same answer', async () => {
    await register(srv.agent(), 'bob');
    const wrong = await login(srv.agent(), 'bob', 'not the password');
    const unknown = await login(srv.agent(), 'nobody-here', 'not the password');
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const message = (html: string) => /<p class="error form-error" role="alert"[^>]*>([^<]*)</.exec(html)?.[1];
    expect(message(wrong.text)).toBe('Wrong username or password.');
    expect(message(unknown.text)).toBe(message(wrong.text));
    expect(setCookie(wrong, 'tc.sid')).toBeUndefined();
  });

  test('POST /register — usernames are unique case-insensitively and after NFKC', async () => {
    expect((await register(srv.agent(), 'Carol')).status).toBe(303);
    for (const dup of ['carol', 'CAROL', ' carol ', 'ｃａｒｏｌ']) {
      const res = await register(srv.agent(), dup);
      expect(res.status).toBe(422);
      expect(res.text).toContain('That username is taken.');
    }
    const rows = await srv.sql.all("SELECT id FROM users WHERE username_key = 'carol'");
    expect(rows).toHaveLength(1);
  });

  test('POST /register — every field\'s problem at once; two-character Chinese names are welcome', async () => {
    const agent = srv.agent();
    const _csrf = await csrfToken(agent, '/register');
    const res = await agent.post('/register').type('form').send({ _csrf, username: 'x', password: 'short', confirm: 'different' });
    expect(res.status).toBe(422);
    for (const message of ['A username has 2 to 32 characters.', 'A password has 8 to 1024 characters.', 'The passwords do not match.']) expect(res.text).toContain(message);
    expect(res.text).toContain('value="x"');
    expect(res.text).not.toContain('value="short"'); // passwords never go back into a page
    const json = await srv.agent().post('/register').send({ username: 'x', password: 'short' });
    expect(json.body.error.fields).toEqual({ username: 'A username has 2 to 32 characters.', password: 'A password has 8 to 1024 characters.' });
    const ming = srv.agent();
    const token = await csrfToken(ming, '/register');
    const made = await ming.post('/register').type('form').send({ _csrf: token, username: '小明', password: 'long enough pw', confirm: 'long enough pw' });
    expect(made.status).toBe(303);
    expect(await srv.sql.value("SELECT count(*) FROM users WHERE username = '小明'")).toBe(1);
  });

  test('POST /register — bad input re-renders the form with 422, keeps the username, writes nothing', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ username: 'a', password: 'long enough pw', confirm: 'long enough pw' }, 'A username has 2 to 32 characters.'],
      [{ username: 'bad name!', password: 'long enough pw', confirm: 'long enough pw' }, 'Use only letters, digits, _ . and -.'],
      [{ username: 'shortpw', password: 'short', confirm: 'short' }, 'A password has 8 to 1024 characters.'],
      [{ username: 'mismatch', password: 'long enough pw', confirm: 'other pw 1234' }, 'The passwords do not match.'],
      [{ username: 'toolong', password: 'x'.repeat(1025), confirm: 'x'.repeat(1025) }, 'A password has 8 to 1024 characters.'],
    ];
    const before = (await srv.sql.get<{ n: number }>('SELECT count(*) AS n FROM users'))!;
    for (const [form, message] of cases) {
      const agent = srv.agent();
      const _csrf = await csrfToken(agent, '/register');
      const res = await agent.post('/register').type('form').send({ _csrf, ...form });
      expect(res.status).toBe(422);
      expect(res.text).toContain(message);
      expect(res.text).toContain(`value="${form.username}"`);
    }
    const after = (await srv.sql.get<{ n: number }>('SELECT count(*) AS n FROM users'))!;
    expect(after.n).toBe(before.n);
  });

  test('POST /register — a Chinese username works', async () => {
    const agent = srv.agent();
    expect((await register(agent, '张伟明')).status).toBe(303);
    expect((await agent.get('/')).text).toContain('张伟明');
  });

  test('POST /register and /login accept JSON without a CSRF token', async () => {
    const agent = srv.agent();
    const reg = await agent.post('/register').send({ username: 'jsonuser', password: 'json password' });
    expect(reg.status).toBe(201);
    expect(reg.body.user).toMatchObject({ username: 'jsonuser', role: 'user' });
    const bad = await srv.agent().post('/login').send({ username: 'jsonuser', password: 'nope nope nope' });
    expect(bad.status).toBe(401);
    expect(bad.body).toEqual({ error: { status: 401, message: 'Wrong username or password.' } });
    const ok = await srv.agent().post('/login').send({ username: 'jsonuser', password: 'json password' });
    expect(ok.status).toBe(200);
    expect(ok.body.user.username).toBe('jsonuser');
  });

  test('a form POST without a CSRF token gets 403 and changes nothing', async () => {
    const res = await request(srv.url).post('/register').type('form').send({ username: 'nocsrf', password: 'long enough pw', confirm: 'long enough pw' });
    expect(res.status).toBe(403);
    expect(await srv.database.read(findByName, 'nocsrf')).toBeUndefined();
    const agent = srv.agent();
    await register(agent, 'csrfvictim');
    const out = await agent.post('/logout').type('form').send({ _csrf: 'forged.token' });
    expect(out.status).toBe(403);
    expect((await agent.get('/')).status).toBe(200); // still signed in
  });

  test('a chat page left open after signing out: its htmx forms are sent to sign in, and write nothing', async () => {
    const agent = srv.agent();
    await register(agent, 'leftopen');
    const page = await agent.get('/');
    const _csrf = csrfFrom(page.text);
    await agent.post('/logout').type('form').send({ _csrf });
    const send = await agent.post('/send').type('form').set('HX-Request', 'true').send({ _csrf, message: 'hello?', turn_key: 'k-left-open', conversation_id: '' });
    expect(send.status).toBe(401);
    expect(send.headers['hx-redirect']).toBe('/login');
    expect(send.text).toBe('');
    const plain = await agent.post('/send').type('form').send({ _csrf, message: 'hello?', turn_key: 'k-left-open-2', conversation_id: '' });
    expect(plain.status).toBe(403); // without htmx: the page that says the form expired
    const user = await srv.database.read(findByName, 'leftopen');
    expect(await srv.sql.value('SELECT count(*) FROM conversations WHERE user_id = ?', user!.id)).toBe(0);
  });

  test('a disabled user loses their session at the next request', async () => {
    const agent = srv.agent();
    await register(agent, 'dave');
    expect((await agent.get('/')).status).toBe(200);
    await srv.database.write(setDisabled, null, (await srv.database.read(findByName, 'dave'))!.id, true);
    const next = await agent.get('/');
    expect(next.status).toBe(303);
    expect(next.headers.location).toBe('/login');
    const page = await agent.get('/login');
    expect(page.status).toBe(200);
    const again = await login(srv.agent(), 'dave');
    expect(again.status).toBe(401);
    expect(again.text).toContain('This account is disabled.');
    await srv.database.write(setDisabled, null, (await srv.database.read(findByName, 'dave'))!.id, false);
    expect((await login(srv.agent(), 'dave')).status).toBe(303);
  });

  test('a session older than the absolute lifetime ends, however active it was', async () => {
    const agent = srv.agent();
    const res = await register(agent, 'erin');
    const sid = decodeURIComponent(setCookie(res, 'tc.sid')!).slice(2).split('.')[0]!;
    const eightDaysAgo = Date.now() - 8 * 24 * 3600 * 1000;
    await setSignedInAt(sid, eightDaysAgo);
    const next = await agent.get('/');
    expect(next.headers.location).toBe('/login');
    expect((await agent.get('/login')).text).not.toContain('Signed in as');
  });

  test('a page asked for while signed out comes back after signing in; the return address stays on this site', async () => {
    await register(srv.agent(), 'returner');
    const agent = srv.agent();
    const asked = await agent.get('/usage/ledger?kind=grant');
    expect(asked.headers.location).toBe('/login?next=%2Fusage%2Fledger%3Fkind%3Dgrant');
    const page = await agent.get(asked.headers.location);
    expect(page.text).toContain('<input type="hidden" name="next" value="/usage/ledger?kind=grant">');
    const _csrf = csrfFrom(page.text);
    const wrong = await agent.post('/login').type('form').send({ _csrf, username: 'returner', password: 'not it at all', next: '/usage/ledger?kind=grant' });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain('name="next" value="/usage/ledger?kind=grant"'); // kept for the next try
    const ok = await agent.post('/login').type('form').send({ _csrf, username: 'returner', password: 'correct horse battery', next: '/usage/ledger?kind=grant' });
    expect(ok.headers.location).toBe('/usage/ledger?kind=grant');
    for (const next of ['//evil.example', 'https://evil.example/', '/\\evil.example']) {
      const other = srv.agent();
      const form = csrfFrom((await other.get('/login')).text);
      const res = await other.post('/login').type('form').send({ _csrf: form, username: 'returner', password: 'correct horse battery', next });
      expect(res.headers.location).toBe('/');
    }
  });

  test('POST /login — repeated failures for one username slow new devices down but never lock the account', async () => {
    await register(srv.agent(), 'frank');
    for (let i = 0; i < 5; i++) expect((await login(srv.agent(), 'frank', 'wrong password')).status).toBe(401);
    const started = Date.now();
    const slowed = await login(srv.agent(), 'frank', 'correct horse battery');
    expect(slowed.status).toBe(303);
    expect(Date.now() - started).toBeGreaterThanOrEqual(95); // LOGIN_DELAY_MS
    // other accounts are unaffected
    await register(srv.agent(), 'grace');
    expect((await login(srv.agent(), 'grace')).status).toBe(303);
  });

  test('GET / signed out redirects to /login; GET /login signed in redirects to /', async () => {
    expect((await request(srv.url).get('/')).headers.location).toBe('/login');
    const agent = srv.agent();
    await register(agent, 'heidi');
    expect((await agent.get('/login')).headers.location).toBe('/');
  });
});

describe('throttling per IP', () => {
  test('POST /register from one address is throttled with 429 past the limit', async () => {
    const s = await startTestServer({ LOGIN_RATE_LIMIT_PER_IP: '3' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await s.agent().post('/register').send({ username: `ip${i}user`, password: 'long enough pw' })).status);
      expect(statuses).toEqual([201, 201, 201, 429]);
      expect(await s.database.read(findByName, 'ip3user')).toBeUndefined();
    } finally {
      await s.close();
    }
  });
});

describe('signup bonus', () => {
  test('a new account starts with SIGNUP_BONUS tokens, written as a ledger row, shown on the home page', async () => {
    const agent = srv.agent();
    await register(agent, 'bonususer');
    const user = await srv.database.read(findByName, 'bonususer');
    const rows = await srv.sql.all('SELECT kind, amount, balance_after FROM ledger WHERE user_id = ? ORDER BY id', user!.id);
    expect(rows).toEqual([{ kind: 'signup_bonus', amount: 2000, balance_after: 2000 }]);
    expect((await agent.get('/')).text).toContain('Balance: 2,000 tokens');
  });
});
