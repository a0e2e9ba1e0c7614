// Switching the language on the register page keeps what was typed but the passwords (issue 26: 7):
// the EN and 中文 buttons send the register form's fields to /lang, which comes back to the page
// with the name (and an invite) in its address, never a password.
import { csrfFrom, startTestServer, type TestServer } from './helpers';

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(() => srv.close());

test('the register page keeps the name typed across a language switch, never the passwords', async () => {
  const agent = srv.agent();
  const page = await agent.get('/register');
  // The buttons belong to the register form, and that form says where to come back.
  expect(page.text).toMatch(/<button type="submit" name="lang" value="zh-CN" lang="zh-CN" form="register-form" formaction="\/lang" formnovalidate/);
  expect(page.text).toContain('<form method="post" action="/register" id="register-form" novalidate>');
  const sent = await agent.post('/lang').type('form').send({
    _csrf: csrfFrom(page.text), back: '/register', username: 'ada lovelace', password: 'secret password', confirm: 'secret password', lang: 'zh-CN',
  });
  expect(sent.status).toBe(303);
  expect(sent.headers.location).toBe('/register?username=ada+lovelace');
  const back = await agent.get(sent.headers.location);
  expect(back.text).toContain('<html lang="zh-CN"');
  expect(back.text).toMatch(/<input id="username" name="username"[^>]*value="ada lovelace"/);
  expect(back.text).not.toContain('secret password');
});

test('other pages switch as before; a name too long or a foreign return address is not kept', async () => {
  const agent = srv.agent();
  const page = await agent.get('/login');
  expect(page.text).not.toContain('formaction="/lang"');
  const csrf = csrfFrom(page.text);
  expect((await agent.post('/lang').type('form').send({ _csrf: csrf, back: '/login', username: 'kept?', lang: 'en' })).headers.location).toBe('/login');
  expect((await agent.post('/lang').type('form').send({ _csrf: csrf, back: '//evil.example/register', username: 'x', lang: 'en' })).headers.location).toBe('/');
  expect((await agent.post('/lang').type('form').send({ _csrf: csrf, back: '/register', username: 'y'.repeat(300), lang: 'en' })).headers.location).toBe('/register');
  const long = await agent.get(`/register?username=${'z'.repeat(100)}`);
  expect(long.text).toMatch(new RegExp(`value="${'z'.repeat(32)}"`));
});
