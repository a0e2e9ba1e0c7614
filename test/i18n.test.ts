import request from 'supertest';
import { en } from '../src/i18n/locales/en';
import { zhCN } from '../src/i18n/locales/zh-CN';
import { csrfFrom, setCookie, startTestServer, type TestServer } from './helpers';
import { translator } from '../src/i18n';
import { sizeText } from '../src/http/attachment-input';

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(() => srv.close());

test('every English message has a Chinese translation and no extra keys', () => {
  expect(Object.keys(zhCN).sort()).toEqual(Object.keys(en).sort());
  for (const [key, text] of Object.entries(zhCN)) expect({ key, empty: text.trim() === '' }).toEqual({ key, empty: false });
});

test('GET /login follows Accept-Language: zh-CN gets Chinese, en gets English', async () => {
  const zh = await request(srv.url).get('/login').set('Accept-Language', 'zh-CN,zh;q=0.9,en;q=0.8');
  expect(zh.text).toContain('<html lang="zh-CN">');
  expect(zh.text).toContain('<h1 id="login-title">登录</h1>');
  const bare = await request(srv.url).get('/login').set('Accept-Language', 'zh');
  expect(bare.text).toContain('<html lang="zh-CN">');
  const english = await request(srv.url).get('/login').set('Accept-Language', 'en-US,en;q=0.9,zh;q=0.5');
  expect(english.text).toContain('<h1 id="login-title">Sign in</h1>');
  const none = await request(srv.url).get('/login');
  expect(none.text).toContain('<html lang="en">');
});

test('POST /lang switches the language and it is remembered over Accept-Language', async () => {
  const agent = srv.agent();
  const page = await agent.get('/register').set('Accept-Language', 'en');
  const res = await agent.post('/lang').type('form').send({ _csrf: csrfFrom(page.text), lang: 'zh-CN', back: '/register' });
  expect(res.status).toBe(303);
  expect(res.headers.location).toBe('/register');
  expect(setCookie(res, 'lang')).toBe('zh-CN');
  const after = await agent.get('/register').set('Accept-Language', 'en');
  expect(after.text).toContain('<h1 id="register-title">注册账号</h1>');
});

test('the language switch returns to the page with its query, and from a page that answered a form to the form', async () => {
  const agent = srv.agent();
  const back = (html: string) => /name="back" value="([^"]*)"/.exec(html)?.[1];
  expect(back((await agent.get('/login?next=1&x=%E4%B8%AD')).text)).toBe('/login?next=1&amp;x=%E4%B8%AD');
  const _csrf = csrfFrom((await agent.get('/register')).text);
  // A refused registration is answered at POST /register's address, which has no page to GET.
  const refused = await agent.post('/register').type('form').set('Referer', `${srv.url}/register?from=home`).send({ _csrf, username: 'x', password: 'short', confirm: 'short' });
  expect(refused.status).toBe(422);
  expect(back(refused.text)).toBe('/register?from=home');
  const noReferer = await agent.post('/register').type('form').send({ _csrf, username: 'x', password: 'short', confirm: 'short' });
  expect(back(noReferer.text)).toBe('/');
});

test('POST /lang refuses unknown languages and never redirects off-site', async () => {
  const agent = srv.agent();
  const _csrf = csrfFrom((await agent.get('/login')).text);
  expect((await agent.post('/lang').type('form').send({ _csrf, lang: 'fr' })).status).toBe(400);
  for (const back of ['//evil.example', 'https://evil.example', '/\\evil.example']) {
    const res = await agent.post('/lang').type('form').send({ _csrf, lang: 'en', back });
    expect(res.headers.location).toBe('/');
  }
});

test('form errors come back in Chinese for a Chinese reader', async () => {
  const agent = srv.agent();
  const page = await agent.get('/register').set('Accept-Language', 'zh-CN');
  const res = await agent
    .post('/register')
    .set('Accept-Language', 'zh-CN')
    .type('form')
    .send({ _csrf: csrfFrom(page.text), username: 'a', password: 'long enough', confirm: 'long enough' });
  expect(res.status).toBe(422);
  expect(res.text).toContain('用户名长度为 2 到 32 个字符。');
});

test('English says "1 token" and "2 tokens", counts formatted or not; Chinese has one form', () => {
  const english = translator('en');
  expect(english('common.tokens', { n: 1 })).toBe('1 token');
  expect(english('common.tokens', { n: '1,000' })).toBe('1,000 tokens');
  expect(english('common.tokens', { n: 0 })).toBe('0 tokens');
  expect(english('chat.dropped', { n: 1 })).toBe("1 earlier message was left out to fit the model's context window.");
  expect(english('chat.dropped', { n: 3 })).toBe("3 earlier messages were left out to fit the model's context window.");
  expect(translator('zh-CN')('common.tokens', { n: 1 })).not.toMatch(/\|/);
});

test('a message is filled in the same however often it is asked for: each place once, a missing variable left as it is written', () => {
  const english = translator('en');
  for (let i = 0; i < 3; i++) {
    expect(english('nav.balance', { n: '1,234' })).toBe('Balance: 1,234 tokens');
    expect(english('nav.balance', { n: 1 })).toBe('Balance: 1 token');
    expect(english('chat.running_cost', { tokens: 7, cost: '12' })).toBe('7 tokens so far, cost 12');
    expect(english('nav.balance', {})).toBe('Balance: {n} {n|token|tokens}');
    expect(english('nav.balance', { n: 'many' })).toBe('Balance: many tokens'); // no digits: counted as 0
    expect(english('nav.balance')).toBe('Balance: {n} {n|token|tokens}');
    expect(translator('zh-CN')('nav.balance', { n: '1,234' })).toBe('余额：1,234 tokens');
  }
  // A value that looks like a place is not filled in again.
  expect(english('chat.running_cost', { tokens: '{cost}', cost: '12' })).toBe('{cost} tokens so far, cost 12');
});

test('file sizes read in the reader\'s numbers, asked for again and again, in either language', () => {
  for (let i = 0; i < 3; i++) {
    expect(sizeText(20 * 1024 * 1024, 'en')).toBe('20 MB');
    expect(sizeText(1536, 'en')).toBe('1.5 KB');
    expect(sizeText(12_345_678_901, 'en')).toBe('11,774 MB');
    expect(sizeText(12_345_678_901, 'zh-CN')).toBe('11,774 MB');
    expect(sizeText(1536, 'zh-CN')).toBe('1.5 KB');
    expect(sizeText(900, 'en')).toBe('900 B');
  }
});
