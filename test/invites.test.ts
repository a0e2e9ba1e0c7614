// Registration modes (REGISTRATION_MODE), invite links and approval (issue 25, onboarding a class):
// closed offers no "Create account" and refuses /register; invite lets people in only through a
// live link, which takes a use (the last one by one registration only), joins its groups and can
// be revoked or expire; approval makes accounts wait, spending nothing, until an admin lets them in.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { createKey, generateKey } from '../src/accounts/api-keys';
import { PasswordHasher } from '../src/accounts/passwords';
import { createUser, findByName } from '../src/accounts/users';
import { createGroup } from '../src/groups/groups';
import { csrfFrom, login, ON_POSTGRES, register, startTestServer, type Agent, type TestServer } from './helpers';
import { testDatabaseUrl } from './db-under-test';

const PASSWORD = 'correct horse battery';

async function adminOn(srv: TestServer): Promise<Agent> {
  await createUser(srv.database, new PasswordHasher(1, 0), { username: 'boss', password: PASSWORD, role: 'admin' }, { signupBonus: 0 });
  const agent = srv.agent();
  expect((await login(agent, 'boss')).status).toBe(303);
  return agent;
}

async function post(agent: Agent, url: string, form: Record<string, string | string[]>, page: string) {
  const _csrf = csrfFrom((await agent.get(page)).text);
  return agent.post(url).type('form').send({ _csrf, ...form });
}

/** Makes a link on /admin/invites; answers its token (the page shows it once). */
async function makeInvite(admin: Agent, form: Record<string, string | string[]>): Promise<string> {
  const res = await post(admin, '/admin/invites', form, '/admin/invites');
  expect(res.status).toBe(201);
  const m = /\/register\?invite=([A-Za-z0-9_-]{32})"/.exec(res.text);
  expect(m).not.toBeNull();
  return m![1]!;
}

async function registerWith(agent: Agent, username: string, invite: string) {
  const page = await agent.get(`/register?invite=${invite}`);
  const _csrf = csrfFrom(page.text);
  return agent.post('/register').type('form').send({ _csrf, username, password: PASSWORD, confirm: PASSWORD, invite });
}

const userRow = (srv: TestServer, name: string) =>
  srv.sql.get<{ id: number; status: string; disabled: number }>('SELECT id, status, disabled FROM users WHERE username = ?', name);

describe('REGISTRATION_MODE=closed', () => {
  let srv: TestServer;
  beforeAll(async () => { srv = await startTestServer({ REGISTRATION_MODE: 'closed' }); });
  afterAll(() => srv.close());

  test('GET /login and the header offer no "Create account"; GET /register says it is closed; POST /register 403 makes nobody', async () => {
    const agent = srv.agent();
    const loginPage = await agent.get('/login');
    expect(loginPage.text).not.toContain('href="/register"');
    expect(loginPage.text).not.toContain('Create account');
    const page = await agent.get('/register');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Registration is closed. Ask an administrator for an account.');
    expect(page.text).not.toContain('name="password"');
    const res = await agent.post('/register').type('form').send({ _csrf: csrfFrom(loginPage.text), username: 'eve', password: PASSWORD, confirm: PASSWORD });
    expect(res.status).toBe(403);
    expect(Number(await srv.sql.value('SELECT count(*) FROM users'))).toEqual(0);
  });

  test('ALLOW_REGISTRATION=false still means closed; REGISTRATION_MODE wins over it', async () => {
    const { loadConfig } = await import('../src/config');
    expect(loadConfig({ ALLOW_REGISTRATION: 'false' }).registrationMode).toBe('closed');
    expect(loadConfig({}).registrationMode).toBe('open');
    expect(loadConfig({ ALLOW_REGISTRATION: 'false', REGISTRATION_MODE: 'invite' }).registrationMode).toBe('invite');
  });
});

describe('REGISTRATION_MODE=invite', () => {
  let srv: TestServer;
  let admin: Agent;
  beforeAll(async () => {
    srv = await startTestServer({ REGISTRATION_MODE: 'invite' });
    admin = await adminOn(srv);
  });
  afterAll(() => srv.close());

  test('GET /register without a link says an invite is needed; POST /register without one is 403', async () => {
    const agent = srv.agent();
    const page = await agent.get('/register');
    expect(page.text).toContain('You need an invite link to create an account here.');
    expect((await register(agent, 'nolink')).status).toBe(403);
    expect(await userRow(srv, 'nolink')).toBeUndefined();
  });

  test('an admin makes a link with uses and groups; people register through it, join the groups, and the admin sees who used it', async () => {
    const groupId = await srv.database.write(createGroup, null, 'Class 7');
    const token = await makeInvite(admin, { uses: '2', days: '7', note: 'class 7', groups: String(groupId) });
    // Stored hashed: the token itself is nowhere in the database.
    expect(Number(await srv.sql.value('SELECT count(*) FROM invites WHERE token_hash = ? OR prefix = ?', token, token))).toEqual(0);
    const page = await srv.agent().get(`/register?invite=${token}`);
    expect(page.text).toContain('You were invited');
    expect(page.text).toContain(`name="invite" value="${token}"`);
    for (const name of ['ann', 'bob']) expect((await registerWith(srv.agent(), name, token)).status).toBe(303);
    const members = await srv.sql.all<{ username: string }>('SELECT u.username FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = ? ORDER BY u.username', groupId);
    expect(members.map((m) => m.username)).toEqual(['ann', 'bob']);
    expect((await userRow(srv, 'ann'))!.status).toBe('active');
    const list = await admin.get('/admin/invites');
    expect(list.text).toContain('Used up');
    expect(list.text).toMatch(/>ann<\/a>, <a href="\/admin\/users\/\d+">bob<\/a>/);
    // A third person: the link is used up, and says so.
    const third = await registerWith(srv.agent(), 'cat', token);
    expect(third.status).toBe(410);
    expect(third.text).toContain('This invite link has been used as many times as it allows.');
    expect(await userRow(srv, 'cat')).toBeUndefined();
    const audit = await srv.sql.all<{ action: string }>("SELECT action FROM admin_audit WHERE action LIKE 'invite_%' ORDER BY id");
    expect(audit.map((a) => a.action)).toEqual(['invite_create', 'invite_use', 'invite_use']);
  });

  test('a revoked link and an expired link say so with 410; an unknown one 404; nobody is made', async () => {
    const revoked = await makeInvite(admin, { uses: '5', days: '1' });
    const id = await srv.sql.value<number>('SELECT max(id) FROM invites');
    expect((await post(admin, `/admin/invites/${id}/revoke`, {}, '/admin/invites')).status).toBe(303);
    const r = await registerWith(srv.agent(), 'dan', revoked);
    expect(r.status).toBe(410);
    expect(r.text).toContain('This invite link was withdrawn by an administrator.');
    expect((await srv.agent().get(`/register?invite=${revoked}`)).text).toContain('withdrawn');

    const expired = await makeInvite(admin, { uses: '5', days: '1' });
    await srv.sql.run("UPDATE invites SET expires_at = '2000-01-01T00:00:00.000Z' WHERE id = (SELECT max(id) FROM invites)");
    const e = await registerWith(srv.agent(), 'dan', expired);
    expect(e.status).toBe(410);
    expect(e.text).toContain('This invite link has expired.');

    const u = await registerWith(srv.agent(), 'dan', 'A'.repeat(32));
    expect(u.status).toBe(404);
    expect(u.text).toContain('This invite link is not valid.');
    expect(await userRow(srv, 'dan')).toBeUndefined();
  });

  test('two people on the last use at once: exactly one gets in', async () => {
    const token = await makeInvite(admin, { uses: '1', days: '1' });
    const agents = [srv.agent(), srv.agent()];
    const forms = await Promise.all(agents.map(async (a) => csrfFrom((await a.get(`/register?invite=${token}`)).text)));
    const results = await Promise.all(agents.map((a, i) =>
      a.post('/register').type('form').send({ _csrf: forms[i], username: `racer${i}`, password: PASSWORD, confirm: PASSWORD, invite: token })));
    expect(results.map((r) => r.status).sort()).toEqual([303, 410]);
    const made = await srv.sql.all<{ username: string }>("SELECT username FROM users WHERE username LIKE 'racer%'");
    expect(made).toHaveLength(1);
    expect(await srv.sql.value('SELECT uses FROM invites WHERE id = (SELECT max(id) FROM invites)')).toEqual(1);
  });

  test('bad invite forms re-render with 422 and the field errors; nobody but an admin reaches /admin/invites', async () => {
    const res = await post(admin, '/admin/invites', { uses: '0', days: '400' }, '/admin/invites');
    expect(res.status).toBe(422);
    expect(res.text).toContain('Enter a whole number of uses from 1 to 100,000.');
    expect(res.text).toContain('Enter a number of days from 1 to 365.');
    expect(res.text).toContain('aria-describedby="uses-hint uses-error"');
    expect((await srv.agent().get('/admin/invites')).status).toBe(404);
  });
});

describe('REGISTRATION_MODE=approval', () => {
  let srv: TestServer;
  let admin: Agent;
  beforeAll(async () => {
    srv = await startTestServer({ REGISTRATION_MODE: 'approval' });
    admin = srv.agent();
    expect((await register(admin, 'boss')).status).toBe(303); // the first account, the admin, never waits
  });
  afterAll(() => srv.close());

  test('a new account waits: every page is the waiting page, no key works on /v1; an admin approves it and it can chat', async () => {
    expect((await userRow(srv, 'boss'))!.status).toBe('active');
    const agent = srv.agent();
    expect((await agent.get('/register')).text).toContain('New accounts wait for an administrator');
    expect((await register(agent, 'wendy')).status).toBe(303);
    expect((await userRow(srv, 'wendy'))!.status).toBe('pending');
    for (const page of ['/', '/keys', '/usage', '/recharge']) {
      const res = await agent.get(page);
      expect(res.status).toBe(403);
      expect(res.text).toContain('Your account is waiting for an administrator to approve it.');
    }
    const turn = await agent.post('/chat').type('form').send({ message: 'hi' });
    expect(turn.status).toBe(403);
    const wendy = (await srv.database.read(findByName, 'wendy'))!;
    const key = generateKey();
    await srv.database.write(createKey, wendy.id, { name: 'k', models: null, perDay: null, total: null, expiresAt: null }, key);
    const v1 = await srv.agent().post('/v1/chat/completions').set('authorization', `Bearer ${key}`).send({ model: 'demo', messages: [{ role: 'user', content: 'hi' }] });
    expect(v1.status).toBe(401);
    expect(Number(await srv.sql.value('SELECT count(*) FROM holds WHERE user_id = ?', wendy.id))).toEqual(0);

    const waiting = await admin.get('/admin/users/waiting');
    expect(waiting.text).toContain('>wendy</a>');
    expect((await post(admin, `/admin/users/${wendy.id}/approve`, {}, '/admin/users/waiting')).status).toBe(303);
    expect((await userRow(srv, 'wendy'))!.status).toBe('active');
    expect((await agent.get('/')).status).toBe(200);
    const audit = await srv.sql.all<{ target: number }>("SELECT target_user_id AS target FROM admin_audit WHERE action = 'user_approve'");
    expect(audit.map((a) => Number(a.target))).toEqual([wendy.id]);
    expect((await admin.get('/admin/users/waiting')).text).toContain('Nobody is waiting for approval.');
  });

  test('rejecting disables the account; an invite link skips the wait', async () => {
    const agent = srv.agent();
    expect((await register(agent, 'mallory')).status).toBe(303);
    const m = (await userRow(srv, 'mallory'))!;
    expect((await post(admin, `/admin/users/${m.id}/reject`, {}, '/admin/users/waiting')).status).toBe(303);
    expect((await userRow(srv, 'mallory'))!.disabled).toBe(1);
    expect((await agent.get('/')).text).not.toContain('waiting for an administrator');

    const token = await makeInvite(admin, { uses: '1', days: '1' });
    expect((await registerWith(srv.agent(), 'ivy', token)).status).toBe(303);
    expect((await userRow(srv, 'ivy'))!.status).toBe('active');
  });
});

describe('tokenchat invite and user approve (dist/cli; npm run build first)', () => {
  const CLI = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
  let srv: TestServer;
  beforeAll(async () => { srv = await startTestServer({ REGISTRATION_MODE: 'approval', PUBLIC_URL: 'https://chat.example.edu' }); });
  afterAll(() => srv.close());

  async function tokenchat(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let env: Record<string, string> = { PATH: process.env.PATH!, DATA_DIR: srv.dataDir, PUBLIC_URL: 'https://chat.example.edu' };
    if (ON_POSTGRES) {
      const url = new URL(testDatabaseUrl());
      url.searchParams.set('options', `-c search_path=${await srv.sql.value<string>('SELECT current_schema()')}`);
      env = { ...env, DATABASE_URL: url.toString(), SESSION_SECRET: 'test-secret-test-secret-test-secret-1234' };
    }
    return new Promise((resolve) => {
      execFile('node', [CLI, ...args], { env }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    });
  }

  test('invite create prints the link once; it joins the group; invite list shows who used it; revoke; user approve', async () => {
    expect((await register(srv.agent(), 'boss')).status).toBe(303);
    await srv.database.write(createGroup, null, 'Physics');
    const made = await tokenchat(['invite', 'create', '--uses', '3', '--expires', '2d', '--group', 'Physics']);
    expect(made.code).toBe(0);
    const m = /^https:\/\/chat\.example\.edu\/register\?invite=([A-Za-z0-9_-]{32})\n$/.exec(made.stdout);
    expect(m).not.toBeNull();
    expect((await registerWith(srv.agent(), 'pat', m![1]!)).status).toBe(303);
    const list = await tokenchat(['invite', 'list']);
    expect(list.stdout).toMatch(/\tlive\t1\/3\t.*\tPhysics\tpat\n/);
    const id = await srv.sql.value<number>('SELECT max(id) FROM invites');
    expect((await tokenchat(['invite', 'revoke', String(id)])).code).toBe(0);
    expect((await tokenchat(['invite', 'list'])).stdout).toMatch(/\trevoked\t/);
    expect(await tokenchat(['invite', 'create', '--uses', '0'])).toMatchObject({ code: 1, stderr: expect.stringContaining('--uses must be a whole number') });
    expect(await tokenchat(['invite', 'create', '--group', 'Nope'])).toMatchObject({ code: 1, stderr: expect.stringContaining('no group named "Nope"') });

    expect((await register(srv.agent(), 'quinn')).status).toBe(303);
    expect((await userRow(srv, 'quinn'))!.status).toBe('pending');
    expect(await tokenchat(['user', 'approve', 'quinn'])).toMatchObject({ code: 0, stdout: 'approved quinn\n' });
    expect((await userRow(srv, 'quinn'))!.status).toBe('active');
    expect(await tokenchat(['user', 'approve', 'quinn'])).toMatchObject({ code: 1, stderr: expect.stringContaining('not waiting for approval') });
    const audit = await srv.sql.all<{ action: string; actor: number | null }>("SELECT action, actor_id AS actor FROM admin_audit WHERE action IN ('invite_create', 'invite_revoke', 'user_approve') ORDER BY id");
    expect(audit).toEqual([{ action: 'invite_create', actor: null }, { action: 'invite_revoke', actor: null }, { action: 'user_approve', actor: null }]);
  });
});
