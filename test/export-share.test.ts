// Export and share (issue 26): a conversation downloaded as Markdown and JSON (the thread shown,
// with each answer's model, tokens and cost), all of one's conversations at once, and read-only
// share links: a snapshot, never costs or the username, noindex, revocable, gone with the
// conversation or a disabled owner. Another user's ids are 404 everywhere.
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { composer, conversationIdIn, newUser, post, until, type User } from './chat-helpers';
import { csrfFrom, startTestServer, type TestServer } from './helpers';

let fake: FakeUpstream;
let srv: TestServer;
beforeAll(async () => {
  fake = await startFakeUpstream();
  srv = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, SIGNUP_BONUS: '100000', LOGIN_RATE_LIMIT_PER_IP: '10000' });
});
afterAll(async () => {
  await srv.close();
  await fake.close();
});

/** A conversation of one turn: `question` answered with `answer` (usage 11 + 6 tokens). */
async function conversation(user: User, question = 'What is a token?', answer = 'A piece of **text**.'): Promise<number> {
  fake.script({ kind: 'stream', pieces: [answer], usage: { prompt_tokens: 11, completion_tokens: 6 } });
  return conversationIdIn((await post(user, '/send', { ...(await composer(user)), message: question })).text);
}

async function send(user: User, id: number, question: string, answer: string) {
  fake.script({ kind: 'stream', pieces: [answer] });
  await post(user, '/send', { ...(await composer(user, `/c/${id}`)), message: question });
}

const csrf = async (user: User, page = '/shares') => csrfFrom((await user.agent.get(page)).text);
/** A form POST with a CSRF token read first (the agent sends the cookies it had when the request was made). */
async function form(user: User, path: string, fields: Record<string, string> = {}) {
  const _csrf = await csrf(user);
  return user.agent.post(path).type('form').send({ _csrf, ...fields });
}

/** Shares conversation `id`; the link's token. */
async function share(user: User, id: number, displayName = ''): Promise<string> {
  const res = await form(user, `/c/${id}/share`, { display_name: displayName });
  expect(res.status).toBe(303);
  const page = (await user.agent.get('/shares')).text;
  return /\/s\/([\w-]{22})/.exec(page)![1]!;
}

describe('export', () => {
  test('GET /c/:id/export.json — the thread shown (the version chosen), each answer with its model, tokens and cost', async () => {
    const user = await newUser(srv);
    const id = await conversation(user);
    // Answer again: the page shows the new version; the export follows the page.
    fake.script({ kind: 'stream', pieces: ['Second answer'], usage: { prompt_tokens: 11, completion_tokens: 2 } });
    const page = (await user.agent.get(`/c/${id}`)).text;
    const retry = /<form method="post" action="\/retry" class="inline msg-again"[\s\S]*?<\/form>/.exec(page)![0];
    const fields = Object.fromEntries([...retry.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    expect((await post(user, '/retry', fields, false)).status).toBe(303);
    await until('the new answer is finished', async () => (await srv.sql.value("SELECT count(*) FROM messages WHERE conversation_id = ? AND status = 'streaming'", id)) === 0);

    const res = await user.agent.get(`/c/${id}/export.json`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="conversation-\d+\.json"; filename\*=UTF-8''/);
    const { format, conversation: c } = JSON.parse(res.text);
    expect(format).toBe('tokenchat.conversation');
    expect(c.messages.map((m: { content: string }) => m.content)).toEqual(['What is a token?', 'Second answer']);
    const charged = await srv.sql.value<number>("SELECT charge FROM messages WHERE conversation_id = ? AND content = 'Second answer'", id);
    expect(c.messages[1]).toMatchObject({ role: 'assistant', model: 'gpt-4o-mini', promptTokens: 11, completionTokens: 2, cost: charged, counted: 'reported' });
    expect(charged).toBeGreaterThan(0);
  });

  test('GET /c/:id/export.md — headings per message, the figures under each answer, a Chinese title kept in filename*', async () => {
    const user = await newUser(srv);
    const id = await conversation(user, '什么是令牌？');
    const res = await user.agent.get(`/c/${id}/export.md`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/markdown; charset=utf-8/);
    expect(res.headers['content-disposition']).toBe(`attachment; filename="conversation-${id}.md"; filename*=UTF-8''${encodeURIComponent('什么是令牌？.md')}`);
    expect(res.text).toContain('# 什么是令牌？\n\n## You\n\n什么是令牌？\n\n## Assistant\n\nA piece of **text**.\n\n*gpt-4o-mini · 11 prompt + 6 answer tokens · cost ');
  });

  test("another user's conversation is 404 in every format; signed out is sent to sign in", async () => {
    const owner = await newUser(srv);
    const other = await newUser(srv);
    const id = await conversation(owner);
    for (const path of [`/c/${id}/export.md`, `/c/${id}/export.json`]) {
      expect((await other.agent.get(path)).status).toBe(404);
      expect((await srv.agent().get(path)).status).toBe(303);
    }
    expect((await owner.agent.get('/c/99999999/export.json')).status).toBe(404);
    expect((await owner.agent.get('/c/abc/export.md')).status).toBe(404);
  });

  test('GET /export/conversations.json — every conversation of the user, none of anyone else', async () => {
    const user = await newUser(srv);
    const other = await newUser(srv);
    await conversation(other, 'Not mine');
    const ids = [await conversation(user, 'First'), await conversation(user, 'Second')];
    const res = await user.agent.get('/export/conversations.json').buffer(true).parse((r, done) => {
      let text = '';
      r.on('data', (c: Buffer) => (text += c.toString('utf8')));
      r.on('end', () => done(null, text));
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="tokenchat-\d{4}-\d{2}-\d{2}\.json"/);
    const all = JSON.parse(res.body as string);
    expect(all.format).toBe('tokenchat.conversations');
    expect(all.conversations.map((c: { id: number }) => c.id)).toEqual(ids);
    expect(all.conversations.map((c: { messages: Array<{ content: string }> }) => c.messages[0]!.content)).toEqual(['First', 'Second']);
  });
});

describe('share links', () => {
  test('the shared page works signed out: the thread as markdown, never costs, tokens, balance or the username; noindex', async () => {
    const user = await newUser(srv);
    const id = await conversation(user);
    const username = await srv.sql.value<string>('SELECT username FROM users WHERE id = ?', user.id);
    const token = await share(user, id);
    const res = await srv.agent().get(`/s/${token}`);
    expect(res.status).toBe(200);
    expect(res.headers['x-robots-tag']).toBe('noindex, nofollow');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.text).toContain('<meta name="robots" content="noindex, nofollow">');
    expect(res.text).toContain('<strong>text</strong>');
    expect(res.text).toContain('A read-only copy of the conversation as it was on');
    expect(res.text).not.toContain(username!);
    expect(res.text).not.toMatch(/tokens|Cost|Balance|charge/i);
  });

  test('a display name is shown when chosen; too long is 422 and makes no link', async () => {
    const user = await newUser(srv);
    const id = await conversation(user);
    const token = await share(user, id, 'Li Hua, class 3');
    expect((await srv.agent().get(`/s/${token}`)).text).toContain('Shared by Li Hua, class 3');
    const before = await srv.sql.value<number>('SELECT count(*) FROM shares WHERE user_id = ?', user.id);
    const res = await form(user, `/c/${id}/share`, { display_name: 'x'.repeat(61) });
    expect(res.status).toBe(422);
    expect(res.text).toContain('The name can have at most 60 characters.');
    expect(await srv.sql.value<number>('SELECT count(*) FROM shares WHERE user_id = ?', user.id)).toBe(before);
  });

  test('a snapshot: what is sent after sharing does not appear on the shared page', async () => {
    const user = await newUser(srv);
    const id = await conversation(user);
    const token = await share(user, id);
    await send(user, id, 'A later question', 'A later answer');
    const page = (await srv.agent().get(`/s/${token}`)).text;
    expect(page).toContain('What is a token?');
    expect(page).not.toContain('A later');
  });

  test('revoked by its owner: the link is 404 (noindex); revoking again, or by another user, is 404', async () => {
    const owner = await newUser(srv);
    const other = await newUser(srv);
    const token = await share(owner, await conversation(owner));
    const shareId = (await srv.sql.value<number>('SELECT id FROM shares WHERE token = ?', token))!;
    expect((await form(other, `/shares/${shareId}/revoke`)).status).toBe(404);
    expect((await srv.agent().get(`/s/${token}`)).status).toBe(200);
    expect((await form(owner, `/shares/${shareId}/revoke`)).status).toBe(303);
    const gone = await srv.agent().get(`/s/${token}`);
    expect(gone.status).toBe(404);
    expect(gone.headers['x-robots-tag']).toBe('noindex, nofollow');
    expect((await form(owner, `/shares/${shareId}/revoke`)).status).toBe(404);
    expect((await owner.agent.get('/shares')).text).toContain('Revoked');
  });

  test("another user's conversation cannot be shared (404); a form without its CSRF token is 403", async () => {
    const owner = await newUser(srv);
    const other = await newUser(srv);
    const id = await conversation(owner);
    expect((await form(other, `/c/${id}/share`)).status).toBe(404);
    expect((await owner.agent.post(`/c/${id}/share`).type('form').send({})).status).toBe(403);
    expect(await srv.sql.value<number>('SELECT count(*) FROM shares WHERE conversation_id = ?', id)).toBe(0);
  });

  test('a deleted conversation or a disabled owner: the link is gone', async () => {
    const user = await newUser(srv);
    const id = await conversation(user);
    const first = await share(user, id);
    const second = await share(user, await conversation(user, 'Another'));
    expect((await form(user, `/c/${id}/delete`, { confirm: '1' })).status).toBe(303);
    expect((await srv.agent().get(`/s/${first}`)).status).toBe(404);
    await srv.sql.run('UPDATE users SET disabled = 1 WHERE id = ?', user.id);
    expect((await srv.agent().get(`/s/${second}`)).status).toBe(404);
    await srv.sql.run('UPDATE users SET disabled = 0 WHERE id = ?', user.id);
    expect((await srv.agent().get(`/s/${second}`)).status).toBe(200);
  });

  test('ten links asked for at once with room for five: five are made, five refused with 409', async () => {
    const user = await newUser(srv);
    const id = await conversation(user);
    for (let i = 0; i < 95; i++) {
      await srv.sql.run("INSERT INTO shares (token, user_id, conversation_id, title, snapshot) VALUES (?, ?, ?, 't', '[]')", `par${String(i).padStart(19, '0')}`, user.id, id);
    }
    const _csrf = await csrf(user);
    const answers = await Promise.all(Array.from({ length: 10 }, () => user.agent.post(`/c/${id}/share`).type('form').send({ _csrf })));
    expect(answers.map((a) => a.status).sort()).toEqual([303, 303, 303, 303, 303, 409, 409, 409, 409, 409]);
    expect(await srv.sql.value<number>('SELECT count(*) FROM shares WHERE user_id = ? AND revoked_at IS NULL', user.id)).toBe(100);
  });

  test('a guessed or malformed token is 404', async () => {
    for (const token of ['A'.repeat(22), 'short', '../../etc', 'x'.repeat(400)]) expect((await srv.agent().get(`/s/${token}`)).status).toBe(404);
  });

  test('an empty conversation cannot be shared (422); at 100 live links the next is refused with 409', async () => {
    const user = await newUser(srv);
    const id = await conversation(user);
    expect((await form(user, `/c/${id}/clear`, { confirm: '1', conversation_id: String(id) })).status).toBe(303);
    const empty = await form(user, `/c/${id}/share`);
    expect(empty.status).toBe(422);
    expect(empty.text).toContain('There is nothing to share yet');
    const full = await conversation(user);
    for (let i = 0; i < 100; i++) {
      await srv.sql.run("INSERT INTO shares (token, user_id, conversation_id, title, snapshot) VALUES (?, ?, ?, 't', '[]')", `tok${String(i).padStart(19, '0')}`, user.id, full);
    }
    const refused = await form(user, `/c/${full}/share`);
    expect(refused.status).toBe(409);
    expect(refused.text).toContain('You have 100 live links, the most allowed.');
    expect(await srv.sql.value<number>('SELECT count(*) FROM shares WHERE user_id = ?', user.id)).toBe(100);
  });
});

test('with PUBLIC_URL set, a link is given at that address, whatever host the request named', async () => {
  const publicSrv = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, SIGNUP_BONUS: '100000', PUBLIC_URL: 'https://chat.school.example/' });
  try {
    const user = await newUser(publicSrv);
    fake.script({ kind: 'stream', pieces: ['An answer'] });
    const id = conversationIdIn((await post(user, '/send', { ...(await composer(user)), message: 'Q' })).text);
    const _csrf = csrfFrom((await user.agent.get('/shares')).text);
    expect((await user.agent.post(`/c/${id}/share`).set('Host', 'evil.example').type('form').send({ _csrf })).status).toBe(303);
    expect((await user.agent.get('/shares').set('Host', 'evil.example')).text).toMatch(/value="https:\/\/chat\.school\.example\/s\/[\w-]{22}"/);
  } finally {
    await publicSrv.close();
  }
});
