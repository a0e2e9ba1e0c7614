// Retry and Edit on any question, with the earlier versions kept and navigable (‹ 1/2 ›): what the
// model is sent, what the page shows, what the database holds, and that every turn stays charged.
import { startFakeUpstream, DEFAULT_PIECES, type FakeUpstream } from './fake-upstream';
import { composer, conversationIdIn, db, heldAnswer, newUser, post, until, type User } from './chat-helpers';
import { startTestServer, type TestServer } from './helpers';

const ANSWER = DEFAULT_PIECES.join('');
let fake: FakeUpstream;
let srv: TestServer;
let q: ReturnType<typeof db>;
beforeAll(async () => {
  fake = await startFakeUpstream();
  srv = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, SIGNUP_BONUS: '100000', LOGIN_RATE_LIMIT_PER_IP: '10000' });
  q = db(srv);
});
afterAll(async () => {
  await srv.close();
  await fake.close();
});

/** A conversation of two turns: Q1 → A1, Q2 → A2 (the answers say what they answer). */
async function twoTurns(user: User) {
  fake.script({ kind: 'stream', pieces: ['A1'] });
  const id = conversationIdIn((await post(user, '/send', { ...(await composer(user)), message: 'Q1' })).text);
  fake.script({ kind: 'stream', pieces: ['A2'] });
  await post(user, '/send', { ...(await composer(user, `/c/${id}`)), message: 'Q2' });
  const [q1, a1, q2, a2] = await q.messages(id);
  return { id, q1, a1, q2, a2 };
}

const contents = (rows: Array<{ content: string }>) => rows.map((m) => m.content);
const sent = () => fake.requests.at(-1)!.body.messages.map((m: { content: string }) => m.content);
/** A message's own form (Edit or Answer again) in a page: its fields. */
function ownForm(html: string, action: '/edit' | '/retry', messageId: number): Record<string, string> {
  const forms = [...html.matchAll(/<form method="post" action="(\/edit|\/retry)"[^>]*>([\s\S]*?)<\/form>/g)];
  const form = forms.find((f) => f[1] === action && f[2]!.includes(`name="message_id" value="${messageId}"`));
  if (!form) throw new Error(`no ${action} form for message ${messageId}`);
  return Object.fromEntries([...form[2]!.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}

test('Answer again on an earlier question: the model is sent the thread up to it, the later turns stay a version away, every turn is charged', async () => {
  const user = await newUser(srv);
  const { id, q1, a1, q2, a2 } = await twoTurns(user);
  const page = (await user.agent.get(`/c/${id}`)).text;
  const charged = (await q.usage(user)).length;

  fake.script({ kind: 'stream', pieces: ['A1, again'], usage: { prompt_tokens: 7, completion_tokens: 3 } });
  const before = await q.balance(user);
  const res = await post(user, '/retry', ownForm(page, '/retry', q1.id), false); // "Answer again" under A1
  expect(res.status).toBe(303);
  expect(sent()).toEqual(['Q1']);
  expect(contents(await q.thread(id))).toEqual(['Q1', 'A1, again']);
  expect(contents(await q.messages(id))).toEqual(['Q1', 'A1', 'Q2', 'A2', 'A1, again']);
  expect(await q.usage(user)).toHaveLength(charged + 1);
  expect(before - (await q.balance(user))).toBeGreaterThan(0);

  // The page shows version 2 of 2 of the answer; the previous version brings the whole earlier thread back.
  const shown = (await user.agent.get(`/c/${id}`)).text;
  expect(shown).toContain('Version 2 of 2');
  expect(shown).not.toContain(`id="m${q2.id}"`);
  const prev = /<button type="submit" name="message_id" value="(\d+)" class="link-button" data-dir="prev" aria-label="Previous version">/.exec(shown)![1];
  expect(Number(prev)).toBe(a1.id);
  const back = await post(user, '/version', { _csrf: ownForm(shown, '/retry', q1.id)._csrf, conversation_id: String(id), message_id: prev! }); // as the page's relay sends it
  expect(back.status).toBe(200);
  expect(back.text).toContain(`id="m${a2.id}"`);
  expect(back.text).toContain('Version 1 of 2');
  expect(contents(await q.thread(id))).toEqual(['Q1', 'A1', 'Q2', 'A2']);

  // A Send now continues the thread shown.
  await post(user, '/send', { ...(await composer(user, `/c/${id}`)), message: 'Q3' });
  expect(sent()).toEqual(['Q1', 'A1', 'Q2', 'A2', 'Q3']);
});

test('Edit an earlier question: its new version is answered from the history before it; both versions stay', async () => {
  const user = await newUser(srv);
  const { id, q1, q2 } = await twoTurns(user);
  const page = (await user.agent.get(`/c/${id}`)).text;
  expect(page).toMatch(new RegExp(`<textarea id="e${q2.id}" name="message"[^>]*>Q2</textarea>`));
  fake.script({ kind: 'stream', pieces: ['A1 edited'] });
  const res = await post(user, '/edit', { ...ownForm(page, '/edit', q1.id), message: 'Q1, edited' });
  expect(res.status).toBe(200);
  expect(res.text).toContain('<hx-partial hx-target="#transcript" hx-swap="innerHTML">'); // the thread redrawn
  expect(sent()).toEqual(['Q1, edited']);
  expect(contents(await q.thread(id))).toEqual(['Q1, edited', 'A1 edited']);
  expect(contents(await q.messages(id))).toEqual(['Q1', 'A1', 'Q2', 'A2', 'Q1, edited', 'A1 edited']);
  expect(res.text).toContain('Version 2 of 2');
  // Without JavaScript the version buttons work too: back to the first question, and its thread.
  const shown = (await user.agent.get(`/c/${id}`)).text;
  const back = await post(user, `/c/${id}/version`, { _csrf: ownForm(shown, '/edit', (await q.thread(id))[0].id)._csrf, message_id: String(q1.id) }, false);
  expect(back.status).toBe(303);
  expect(back.headers.location).toBe(`/c/${id}#m${q1.id}`);
  expect(contents(await q.thread(id))).toEqual(['Q1', 'A1', 'Q2', 'A2']);
});

test('Undo after Answer again removes the question with every answer to it, and gives it back', async () => {
  const user = await newUser(srv);
  const { id } = await twoTurns(user);
  await post(user, '/retry', { ...(await composer(user, `/c/${id}`)), message: '' });
  expect(contents(await q.thread(id))).toEqual(['Q1', 'A1', 'Q2', ANSWER]);
  const undo = await post(user, '/undo', { _csrf: (await composer(user, `/c/${id}`))._csrf, conversation_id: String(id) });
  expect(undo.text).toContain('data-text="Q2"');
  expect(contents(await q.messages(id))).toEqual(['Q1', 'A1']);
  expect(contents(await q.thread(id))).toEqual(['Q1', 'A1']);
  expect(await q.usage(user)).toHaveLength(3); // what the removed answers cost stays on record
});

test('a message id that is not a question of this thread, or of this user, is refused and charges nothing', async () => {
  const owner = await newUser(srv);
  const theirs = await twoTurns(owner);
  const user = await newUser(srv);
  const mine = await twoTurns(user);
  const fields = await composer(user, `/c/${mine.id}`);
  const calls = fake.requests.length;
  const before = await q.balance(user);
  for (const messageId of [theirs.q1.id, mine.a1.id, 99_999_999]) {
    const res = await post(user, '/retry', { ...fields, message_id: String(messageId), turn_key: `bad-target-${messageId}` }, false);
    expect(res.status).toBe(422);
  }
  expect((await post(user, '/edit', { ...fields, message: 'x', message_id: 'abc', turn_key: 'bad-target-abc' }, false)).status).toBe(422);
  expect(fake.requests.length).toBe(calls);
  expect(await q.balance(user)).toBe(before);
  // Another user's message is no version of this conversation; another user's conversation does not exist.
  expect((await post(user, `/c/${mine.id}/version`, { _csrf: fields._csrf, message_id: String(theirs.a1.id) })).status).toBe(404);
  expect((await post(user, `/c/${theirs.id}/version`, { _csrf: fields._csrf, message_id: String(theirs.a1.id) })).status).toBe(404);
  expect(contents(await q.thread(theirs.id))).toEqual(['Q1', 'A1', 'Q2', 'A2']);
});

test('while an answer streams the thread cannot be switched (409), and the answer lands on its own thread', async () => {
  const user = await newUser(srv);
  const { id, q1, a1 } = await twoTurns(user);
  const page = (await user.agent.get(`/c/${id}`)).text;
  const { live, gate: g } = await heldAnswer(srv, fake, user, { pieces: ['slow', ' again'] }, { fields: ownForm(page, '/retry', q1.id), path: '/retry' });
  await until('the answer to start', () => live.text.includes('id="conversation-id"'));
  const res = await post(user, `/c/${id}/version`, { _csrf: ownForm(page, '/retry', q1.id)._csrf, message_id: String(a1.id) });
  expect(res.status).toBe(409);
  g.release();
  await live.done;
  expect(contents(await q.thread(id))).toEqual(['Q1', 'slow again']);
});
