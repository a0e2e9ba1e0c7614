// Changing your own password at /account (issue 25): the current one required, the other sessions
// of that person ended while this one stays; an admin's reset with "must change" ticked sends the
// person to the change-password page before any other, and their API keys keep working meanwhile.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { member, type Member } from './dashboard-helpers';
import { csrfFrom, login, ON_POSTGRES, startTestServer, type Agent, type TestServer } from './helpers';
import { testDatabaseUrl } from './db-under-test';

let srv: TestServer;
let admin: Member;
beforeAll(async () => {
  srv = await startTestServer();
  admin = await member(srv, 'boss');
});
afterAll(() => srv.close());

const PASSWORD = 'correct horse battery';

async function post(agent: Agent, url: string, form: Record<string, string>, page: string) {
  const _csrf = csrfFrom((await agent.get(page)).text);
  return agent.post(url).type('form').send({ _csrf, ...form });
}

const change = (agent: Agent, current: string, password: string, confirm = password) =>
  post(agent, '/account/password', { current, password, confirm }, '/account');

describe('POST /account/password — your own password', () => {
  test('a wrong current password is refused with 422 on the form and changes nothing', async () => {
    const m = await member(srv, 'wrong_current');
    const before = await srv.sql.get<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = ?', m.id);
    const res = await change(m.agent, 'not my password', 'a brand new password');
    expect(res.status).toBe(422);
    expect(res.text).toContain('That is not your current password.');
    expect(res.text).toMatch(/id="current"[^>]*aria-invalid="true"[^>]*aria-describedby="current-error"/);
    const after = await srv.sql.get<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = ?', m.id);
    expect(after!.password_hash).toBe(before!.password_hash);
  });

  test('a new password too short, or not confirmed, is refused with the field named', async () => {
    const m = await member(srv, 'short_new');
    const short = await change(m.agent, PASSWORD, 'short');
    expect(short.status).toBe(422);
    expect(short.text).toContain('A password has 8 to 1024 characters.');
    const mismatch = await change(m.agent, PASSWORD, 'a brand new password', 'something else entirely');
    expect(mismatch.status).toBe(422);
    expect(mismatch.text).toContain('The passwords do not match.');
  });

  test('the change ends the other sessions, keeps this one, and the new password signs in', async () => {
    const m = await member(srv, 'two_tabs');
    const other = srv.agent();
    expect((await login(other, 'two_tabs')).status).toBe(303);
    expect((await other.get('/usage')).status).toBe(200);
    const res = await change(m.agent, PASSWORD, 'a brand new password');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/account?done=password');
    const here = await m.agent.get('/account?done=password');
    expect(here.status).toBe(200);
    expect(here.text).toContain('Your password was changed.');
    const there = await other.get('/usage');
    expect(there.status).toBe(303);
    expect(there.headers.location).toMatch(/^\/login/);
    expect((await login(srv.agent(), 'two_tabs')).status).toBe(401);
    expect((await login(srv.agent(), 'two_tabs', 'a brand new password')).status).toBe(303);
  });

  test('signed out, /account sends to sign-in', async () => {
    const res = await srv.agent().get('/account');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/login?next=%2Faccount');
  });

  test('an account without a password (made through the OpenID provider) is told it cannot set one here', async () => {
    const m = await member(srv, 'oidc_like');
    await srv.sql.run('UPDATE users SET password_hash = NULL WHERE id = ?', m.id);
    const page = await m.agent.get('/account');
    expect(page.status).toBe(200);
    expect(page.text).toContain('has no password of its own; you cannot set one here');
    expect(page.text).not.toContain('action="/account/password"');
  });
});

describe('an admin reset with "must change at next sign-in"', () => {
  test('the person is sent to the change-password page before any other, keys still work, and after the change pages open', async () => {
    const m = await member(srv, 'forced_one');
    // An API key made before the reset.
    const keyPage = await post(m.agent, '/keys', { name: 'laptop' }, '/keys');
    expect(keyPage.status).toBe(201);
    const key = /(tc-[0-9A-Za-z]{32})/.exec(keyPage.text)![1]!;
    const reset = await post(admin.agent, `/admin/users/${m.id}/password`, { password: 'temporary-pass-1', must_change: '1' }, `/admin/users/${m.id}`);
    expect(reset.status).toBe(303);
    const row = await srv.sql.get<{ must_change_password: number }>('SELECT must_change_password FROM users WHERE id = ?', m.id);
    expect(Number(row!.must_change_password)).toBe(1);
    const audit = await srv.sql.get<{ detail: string }>("SELECT detail FROM admin_audit WHERE action = 'password_reset' AND target_user_id = ?", m.id);
    expect(JSON.parse(audit!.detail)).toEqual({ must_change: true });

    const agent = srv.agent();
    expect((await login(agent, 'forced_one', 'temporary-pass-1')).status).toBe(303);
    for (const page of ['/', '/usage', '/keys', '/admin']) {
      const res = await agent.get(page);
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe('/account/password');
    }
    const fragment = await agent.get('/usage').set('HX-Request', 'true');
    expect(fragment.status).toBe(403);
    expect(fragment.headers['hx-redirect']).toBe('/account/password');
    const form = await agent.get('/account/password');
    expect(form.status).toBe(200);
    expect(form.text).toContain('Choose a new password before going on');
    const models = await agent.get('/v1/models').set('Authorization', `Bearer ${key}`);
    expect(models.status).toBe(200);
    const done = await post(agent, '/account/password', { current: 'temporary-pass-1', password: 'my own password now', confirm: 'my own password now' }, '/account/password');
    expect(done.status).toBe(303);
    expect((await agent.get('/usage')).status).toBe(200);
    const after = await srv.sql.get<{ must_change_password: number }>('SELECT must_change_password FROM users WHERE id = ?', m.id);
    expect(Number(after!.must_change_password)).toBe(0);
  });

  test('a reset without the box ticked does not force a change', async () => {
    const m = await member(srv, 'not_forced');
    await post(admin.agent, `/admin/users/${m.id}/password`, { password: 'temporary-pass-2' }, `/admin/users/${m.id}`);
    const agent = srv.agent();
    expect((await login(agent, 'not_forced', 'temporary-pass-2')).status).toBe(303);
    expect((await agent.get('/usage')).status).toBe(200);
  });
});

describe('tokenchat user password <name> --must-change', () => {
  test("resets the password from stdin, audited as the command line's, ends the sessions and forces a change", async () => {
    const m = await member(srv, 'cli_reset');
    const env: Record<string, string> = { PATH: process.env.PATH!, DATA_DIR: srv.dataDir, LOG_LEVEL: 'silent' };
    if (ON_POSTGRES) {
      const url = new URL(testDatabaseUrl());
      url.searchParams.set('options', `-c search_path=${await srv.sql.value<string>('SELECT current_schema()')}`);
      Object.assign(env, { DATABASE_URL: url.toString(), SESSION_SECRET: 'test-secret-test-secret-test-secret-1234' });
    }
    const cli = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
    const run = await new Promise<{ code: number; stdout: string }>((resolve) => {
      const child = execFile('node', [cli, 'user', 'password', 'cli_reset', '--must-change'], { env }, (err, stdout) => resolve({ code: err ? 1 : 0, stdout }));
      child.stdin!.end('reset-by-cli-1\n');
    });
    expect(run.code).toBe(0);
    expect((await m.agent.get('/usage')).status).toBe(303); // the session ended
    const audit = await srv.sql.get<{ actor_id: number | null; detail: string }>("SELECT actor_id, detail FROM admin_audit WHERE action = 'password_reset' AND target_user_id = ?", m.id);
    expect(audit!.actor_id).toBeNull();
    expect(JSON.parse(audit!.detail)).toEqual({ must_change: true });
    const agent = srv.agent();
    expect((await login(agent, 'cli_reset', 'reset-by-cli-1')).status).toBe(303);
    expect((await agent.get('/usage')).headers.location).toBe('/account/password');
  }, 30_000);
});
