// Sign-in with the organisation's accounts (issue 25): a real OpenID Provider (oidc-provider) on
// loopback, walked through with a browser that keeps cookies; every refusal leaves no account.
import { startTestServer, csrfFrom, type TestServer } from './helpers';
import { Browser, freePort, startProvider, type TestProvider } from './oidc-fixture';
import { createGroup, addMembers } from '../src/groups/groups';
import { setBreakGlass } from '../src/oidc/admin';
import { claimValues, overage } from '../src/oidc/accounts';

let op: TestProvider;
let srv: TestServer;
let app: string;
let callback: string;
let approvalApp: string;
let approvalSrv: TestServer;
const school = (issuer: string) => JSON.stringify([{
  id: 'school', issuer, clientId: 'tokenchat', clientSecret: 'tokenchat-secret', scopes: 'openid email profile groups',
  label: 'School account', emailDomains: ['school.test'], groupsClaim: 'groups',
}]);

beforeAll(async () => {
  const port = await freePort();
  app = `http://127.0.0.1:${port}`;
  callback = `${app}/auth/oidc/school/callback`;
  const other = await freePort();
  approvalApp = `http://127.0.0.1:${other}`;
  op = await startProvider(callback, `${approvalApp}/auth/oidc/school/callback`);
  srv = await startTestServer({ PORT: String(port), PUBLIC_URL: app, OIDC_PROVIDERS: school(op.issuer) });
  approvalSrv = await startTestServer({ PORT: String(other), PUBLIC_URL: approvalApp, OIDC_PROVIDERS: school(op.issuer), REGISTRATION_MODE: 'approval' });
});
afterAll(async () => {
  await srv?.close();
  await approvalSrv?.close();
  await op?.close();
});
afterEach(() => {
  op.tamper = undefined;
});

const users = () => srv.sql.value<number>('SELECT count(*) FROM users').then(Number);
const userNamed = (name: string) => srv.sql.get('SELECT id, username, password_hash, email, email_verified FROM users WHERE username = ?', name);
const groupsOf = async (userId: number) =>
  (await srv.sql.all<{ name: string }>('SELECT g.name FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = ? ORDER BY g.name', userId)).map((r) => r.name);

/** Signs in through the provider as `sub`; the last page the browser lands on. */
const signInAs = (b: Browser, sub: string) => b.walk(`${app}/auth/oidc/school`, { login: sub });

/** An admin for the admin pages (the first account made by the form is the admin). */
async function adminBrowser(): Promise<Browser> {
  const b = new Browser();
  const form = await b.fetch(`${app}/register`);
  const res = await b.fetch(`${app}/register`, { form: { _csrf: csrfFrom(form.text), username: 'headteacher', password: 'correct horse battery', confirm: 'correct horse battery' } });
  expect(res.status).toBe(303);
  return b;
}
let admin: Browser;
beforeAll(async () => {
  admin = await adminBrowser();
});

test('GET /login — a button per provider, in the page language', async () => {
  const b = new Browser();
  const page = await b.fetch(`${app}/login`);
  expect(page.text).toContain('href="/auth/oidc/school"');
  expect(page.text).toContain('Sign in with School account');
  const zh = await fetch(`${app}/login`, { headers: { 'accept-language': 'zh-CN' } });
  expect(await zh.text()).toContain('使用 School account 登录');
});

test('a full sign-in makes the account without a password from the verified claims, and signs in to it again', async () => {
  op.accounts.set('sub-ada', { email: 'Ada@school.test', email_verified: true, preferred_username: 'ada@school.test', name: 'Ada Lovelace' });
  const b = new Browser();
  const home = await signInAs(b, 'sub-ada');
  expect(home.url).toBe(`${app}/`);
  expect(home.text).toContain('ada');
  const ada = await userNamed('ada');
  expect(ada).toMatchObject({ password_hash: null, email: 'ada@school.test' });
  expect(Number(ada.email_verified)).toBe(1);
  expect(await srv.sql.value('SELECT user_id FROM oidc_identities WHERE provider = ? AND subject = ?', 'school', 'sub-ada')).toEqual(ada.id);
  const before = await users();
  const again = await signInAs(new Browser(), 'sub-ada');
  expect(again.url).toBe(`${app}/`);
  expect(await users()).toBe(before);
  // No password ever signs in to it.
  const form = await b.fetch(`${app}/logout`, { form: { _csrf: csrfFrom(home.text) } });
  expect(form.status).toBe(303);
  const login = await b.fetch(`${app}/login`);
  const refused = await b.fetch(`${app}/login`, { form: { _csrf: csrfFrom(login.text), username: 'ada', password: 'anything at all' } });
  expect(refused.status).toBe(401);
});

test('never links by a matching username: a second "grace" gets a name of her own', async () => {
  const b = new Browser();
  const form = await b.fetch(`${app}/register`);
  await b.fetch(`${app}/register`, { form: { _csrf: csrfFrom(form.text), username: 'grace', password: 'correct horse battery', confirm: 'correct horse battery' } });
  op.accounts.set('sub-grace', { email: 'grace@school.test', email_verified: true, preferred_username: 'grace' });
  await signInAs(new Browser(), 'sub-grace');
  const linked = await srv.sql.value<number>('SELECT user_id FROM oidc_identities WHERE subject = ?', 'sub-grace');
  expect((await srv.sql.get('SELECT username FROM users WHERE id = ?', linked)).username).toBe('grace-2');
  expect(await srv.sql.value('SELECT count(*) FROM oidc_identities WHERE user_id = (SELECT id FROM users WHERE username = ?)', 'grace')).toEqual(0);
});

test('a tampered state is refused with a clear page and makes no account', async () => {
  op.accounts.set('sub-eve', { email: 'eve@school.test', email_verified: true, preferred_username: 'eve' });
  const b = new Browser();
  const back = await b.walk(`${app}/auth/oidc/school`, { login: 'sub-eve', stopAt: callback });
  const url = new URL(back.location!);
  url.searchParams.set('state', `${url.searchParams.get('state')}x`);
  const res = await b.fetch(url.href);
  expect(res.status).toBe(400);
  expect(res.text).toContain('does not match the sign-in you started');
  expect(await userNamed('eve')).toBeUndefined();
});

test('a replayed code is refused: the callback twice, and the code with a new sign-in', async () => {
  op.accounts.set('sub-ron', { email: 'ron@school.test', email_verified: true, preferred_username: 'ron' });
  const b = new Browser();
  const back = await b.walk(`${app}/auth/oidc/school`, { login: 'sub-ron', stopAt: callback });
  expect((await b.fetch(back.location!)).status).toBe(303);
  const count = await users();
  const twice = await b.fetch(back.location!);
  expect(twice.status).toBe(400);
  expect(twice.text).toContain('expired or was already used');
  // Another browser starts its own sign-in and brings the old code back with its own state.
  const thief = new Browser();
  const start = await thief.fetch(`${app}/auth/oidc/school`);
  const state = new URL(start.location!).searchParams.get('state')!;
  const replay = new URL(back.location!);
  replay.searchParams.set('state', state);
  const res = await thief.fetch(replay.href);
  expect(res.status).toBe(400);
  expect(res.text).toContain('could not be verified');
  expect(await users()).toBe(count);
  expect((await thief.fetch(`${app}/`)).location).toMatch(/\/login/);
});

test.each([
  ['a wrong nonce', (c: Record<string, unknown>) => ({ ...c, nonce: 'not-the-one-we-sent' })],
  ['a token from another issuer', (c: Record<string, unknown>) => ({ ...c, iss: 'http://127.0.0.1:9/another-issuer' })],
  ['an expired ID token', (c: Record<string, unknown>) => ({ ...c, iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 })],
])('%s is refused with a clear page and makes no account', async (_name, tamper) => {
  op.accounts.set('sub-mal', { email: 'mal@school.test', email_verified: true, preferred_username: 'mal' });
  op.tamper = tamper;
  const res = await signInAs(new Browser(), 'sub-mal');
  expect(res.status).toBe(400);
  expect(res.text).toContain('could not be verified');
  expect(await userNamed('mal')).toBeUndefined();
  expect(await srv.sql.value('SELECT count(*) FROM oidc_identities WHERE subject = ?', 'sub-mal')).toEqual(0);
});

test.each([
  ['an email domain not allowed', { email: 'zed@elsewhere.test', email_verified: true, preferred_username: 'zed' }],
  ['an email the provider does not vouch for', { email: 'zed@school.test', email_verified: false, preferred_username: 'zed' }],
])('%s is refused with a clear page and makes no account', async (_name, account) => {
  op.accounts.set('sub-zed', account);
  const res = await signInAs(new Browser(), 'sub-zed');
  expect(res.status).toBe(403);
  expect(res.text).toContain('email domain may not sign in here');
  expect(await userNamed('zed')).toBeUndefined();
});

test('group claims mapped by the admin page, refreshed at every sign-in; unmapped groups stay', async () => {
  const [classA, classB, staff] = await Promise.all(['Class A', 'Class B', 'Staff'].map((n) => srv.database.write(createGroup, null, n)));
  for (const [value, group] of [['class-a', classA], ['class-b', classB]] as const) {
    const page = await admin.fetch(`${app}/admin/oidc`);
    const res = await admin.fetch(`${app}/admin/oidc/map`, { form: { _csrf: csrfFrom(page.text), provider: 'school', claim_value: value, group: String(group) } });
    expect(res.location).toBe(`${app}/admin/oidc?done=mapped`);
  }
  const page = await admin.fetch(`${app}/admin/oidc`);
  expect(page.text).toContain('class-a');
  op.accounts.set('sub-bob', { email: 'bob@school.test', email_verified: true, preferred_username: 'bob', groups: ['class-a', 'chess-club'] });
  await signInAs(new Browser(), 'sub-bob');
  const bob = (await userNamed('bob')).id as number;
  expect(await groupsOf(bob)).toEqual(['Class A']);
  await srv.database.write(addMembers, null, staff, [bob]);
  // Moved to another class in the identity provider.
  op.accounts.set('sub-bob', { email: 'bob@school.test', email_verified: true, preferred_username: 'bob', groups: ['class-b'] });
  await signInAs(new Browser(), 'sub-bob');
  expect(await groupsOf(bob)).toEqual(['Class B', 'Staff']);
  const audit = await srv.sql.all<{ action: string; detail: string }>("SELECT action, detail FROM admin_audit WHERE target_user_id = ? AND action IN ('group_add', 'group_remove') ORDER BY id", bob);
  expect(audit.map((a) => a.action)).toEqual(['group_add', 'group_add', 'group_remove', 'group_add']);
  // The changes the claims made say so; the admin's own addition (Staff) does not.
  expect(audit.map((a) => (JSON.parse(a.detail) as { signIn?: string }).signIn ?? null)).toEqual([expect.any(String), null, expect.any(String), expect.any(String)]);
});

test('the admin links an identity to an existing account; then it signs in there', async () => {
  const b = new Browser();
  const form = await b.fetch(`${app}/register`);
  await b.fetch(`${app}/register`, { form: { _csrf: csrfFrom(form.text), username: 'marie', password: 'correct horse battery', confirm: 'correct horse battery' } });
  const page = await admin.fetch(`${app}/admin/oidc`);
  const bad = await admin.fetch(`${app}/admin/oidc/link`, { form: { _csrf: csrfFrom(page.text), link_provider: 'school', username: 'nobody-here', subject: 'sub-marie' } });
  expect(bad.status).toBe(422);
  expect(bad.text).toContain('aria-describedby="username-error"');
  const ok = await admin.fetch(`${app}/admin/oidc/link`, { form: { _csrf: csrfFrom(page.text), link_provider: 'school', username: 'marie', subject: 'sub-marie' } });
  expect(ok.status).toBe(303);
  op.accounts.set('sub-marie', { email: 'marie@school.test', email_verified: true, preferred_username: 'mcurie' });
  const before = await users();
  const home = await signInAs(new Browser(), 'sub-marie');
  expect(home.url).toBe(`${app}/`);
  expect(home.text).toContain('marie');
  expect(await users()).toBe(before);
});

test('the owner, signed in, links their account at the provider from the Sign-in methods page', async () => {
  const b = new Browser();
  const form = await b.fetch(`${app}/register`);
  await b.fetch(`${app}/register`, { form: { _csrf: csrfFrom(form.text), username: 'lise', password: 'correct horse battery', confirm: 'correct horse battery' } });
  const page = await b.fetch(`${app}/account/sign-in`);
  expect(page.text).toContain('Link my School account account');
  op.accounts.set('sub-lise', { email: 'lise@school.test', email_verified: true, preferred_username: 'lmeitner' });
  const done = await b.walk(`${app}/account/sign-in/school/link`, { form: { _csrf: csrfFrom(page.text) }, login: 'sub-lise' });
  expect(done.text).toContain('is linked');
  const lise = (await userNamed('lise')).id;
  expect(await srv.sql.value('SELECT user_id FROM oidc_identities WHERE subject = ?', 'sub-lise')).toEqual(lise);
  expect(await userNamed('lmeitner')).toBeUndefined();
});

describe('PASSWORD_SIGNIN=off', () => {
  let off: TestServer;
  beforeAll(async () => {
    off = await startTestServer({ PASSWORD_SIGNIN: 'off' });
  });
  afterAll(() => off?.close());

  test('POST /login — only break-glass accounts sign in with a password; others get one answer, right password or wrong', async () => {
    const first = off.agent();
    const reg = await first.get('/register');
    await first.post('/register').type('form').send({ _csrf: csrfFrom(reg.text), username: 'root', password: 'correct horse battery', confirm: 'correct horse battery' });
    const b = off.agent();
    const tryPassword = async (password: string) => {
      const page = await b.get('/login');
      expect(page.text).toContain('break-glass');
      return b.post('/login').type('form').send({ _csrf: csrfFrom(page.text), username: 'root', password });
    };
    const right = await tryPassword('correct horse battery');
    const wrong = await tryPassword('not the password');
    expect(right.status).toBe(401);
    expect(right.text).toContain('Password sign-in is turned off here');
    expect(wrong.text).toContain('Password sign-in is turned off here');
    expect(await off.database.write(setBreakGlass, null, 'root', true)).toBe(true);
    expect((await tryPassword('correct horse battery')).status).toBe(303);
  });
});

test('POST /account/sign-in/:provider/unlink — the only way an account signs in stays linked (409); a password account may unlink', async () => {
  op.accounts.set('sub-otto', { email: 'otto@school.test', email_verified: true, preferred_username: 'otto' });
  const b = new Browser();
  await signInAs(b, 'sub-otto');
  const page = await b.fetch(`${app}/account/sign-in`);
  expect(page.text).toContain('This account has no password');
  const kept = await b.fetch(`${app}/account/sign-in/school/unlink`, { form: { _csrf: csrfFrom(page.text) } });
  expect(kept.status).toBe(409);
  expect(kept.text).toContain('only way this account signs in');
  expect(await srv.sql.value('SELECT count(*) FROM oidc_identities WHERE subject = ?', 'sub-otto')).toEqual(1);
  // lise (a password and the identity linked above) may.
  const lise = new Browser();
  const login = await lise.fetch(`${app}/login`);
  await lise.fetch(`${app}/login`, { form: { _csrf: csrfFrom(login.text), username: 'lise', password: 'correct horse battery' } });
  const hers = await lise.fetch(`${app}/account/sign-in`);
  const done = await lise.fetch(`${app}/account/sign-in/school/unlink`, { form: { _csrf: csrfFrom(hers.text) } });
  expect(done.location).toBe(`${app}/account/sign-in?unlinked=school`);
  expect(await srv.sql.value('SELECT count(*) FROM oidc_identities WHERE subject = ?', 'sub-lise')).toEqual(0);
  const audit = await srv.sql.value("SELECT count(*) FROM admin_audit WHERE action = 'oidc_unlink'");
  expect(Number(audit)).toBe(1);
});

test('the account page and an admin\'s user page lead to linking an identity', async () => {
  const b = new Browser();
  const login = await b.fetch(`${app}/login`);
  await b.fetch(`${app}/login`, { form: { _csrf: csrfFrom(login.text), username: 'marie', password: 'correct horse battery' } });
  expect((await b.fetch(`${app}/account`)).text).toContain('href="/account/sign-in"');
  const marie = (await userNamed('marie')).id;
  const page = await admin.fetch(`${app}/admin/users/${marie}`);
  expect(page.text).toContain('href="/admin/oidc?username=marie#link-title"');
  expect((await admin.fetch(`${app}/admin/oidc?username=marie`)).text).toMatch(/id="username" name="username" type="text" autocomplete="off"\s+value="marie"/);
});

test('REGISTRATION_MODE=approval: an account made at first sign-in waits for an admin', async () => {
  op.accounts.set('sub-ida', { email: 'ida@school.test', email_verified: true, preferred_username: 'ida' });
  const b = new Browser();
  const res = await b.walk(`${approvalApp}/auth/oidc/school`, { login: 'sub-ida' });
  expect(res.status).toBe(403);
  expect(res.text).toContain('Waiting for approval');
  expect(await approvalSrv.sql.value('SELECT status FROM users WHERE username = ?', 'ida')).toBe('pending');
});

test('a groups claim may be a list, one value, or reached by a dotted name (Keycloak\'s realm_access.roles)', () => {
  expect(claimValues({ sub: 's', groups: ['a', 'b', 7, { no: 1 }] }, 'groups')).toEqual(['a', 'b', '7']);
  expect(claimValues({ sub: 's', role: 'teacher' }, 'role')).toEqual(['teacher']);
  expect(claimValues({ sub: 's', realm_access: { roles: ['student'] } }, 'realm_access.roles')).toEqual(['student']);
  expect(claimValues({ sub: 's' }, 'groups')).toEqual([]);
});

test('groups overage (Entra ID leaves the claim out and names it in _claim_names): memberships are left as they are', () => {
  expect(overage({ sub: 'a', _claim_names: { groups: 'src1' } }, 'groups')).toBe(true);
  expect(overage({ sub: 'a', _claim_names: { realm_access: 'src1' } }, 'realm_access.roles')).toBe(true);
  expect(overage({ sub: 'a', groups: [] }, 'groups')).toBe(false);
  expect(overage({ sub: 'a', _claim_names: { roles: 'src1' } }, 'groups')).toBe(false);
});

test('GET /auth/oidc/:provider — a provider that cannot be reached gets a clear page (502), not a crash', async () => {
  const port = await freePort();
  const down = await startTestServer({ PUBLIC_URL: 'http://127.0.0.1:1', OIDC_PROVIDERS: school(`http://127.0.0.1:${port}`) });
  try {
    const res = await down.agent().get('/auth/oidc/school');
    expect(res.status).toBe(502);
    expect(res.text).toContain('cannot be reached just now');
  } finally {
    await down.close();
  }
});
