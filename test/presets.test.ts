// Prompt presets (issue 26): a user's own (create, rename, edit, delete, picked in the composer
// without JavaScript to fill the textbox or the system prompt), an admin's published ones (to
// everybody or a group, read-only to members, audited), a group's locked system prompt kept over a
// preset's, limits on sizes and counts, and another user's ids answered 404.
import { createGroup, addMembers } from '../src/groups/groups';
import { setGroupPrompt } from '../src/groups/prompt';
import { newUser, type User } from './chat-helpers';
import { member, type Member } from './dashboard-helpers';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { csrfFrom, startTestServer, type TestServer } from './helpers';

let fake: FakeUpstream;
let srv: TestServer;
let admin: Member;
beforeAll(async () => {
  fake = await startFakeUpstream();
  srv = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, LOGIN_RATE_LIMIT_PER_IP: '10000' });
  admin = await member(srv, 'headteacher'); // the first account is the administrator
});
afterAll(async () => {
  await srv.close();
  await fake.close();
});

type Who = Pick<User, 'agent'>;
/** A form POST with a CSRF token read first (the agent sends the cookies it had when the request was made). */
async function form(who: Who, path: string, fields: Record<string, string> = {}) {
  const _csrf = csrfFrom((await who.agent.get('/presets')).text);
  return who.agent.post(path).type('form').send({ _csrf, ...fields });
}
const presetsOf = (userId: number | null) =>
  userId === null ? srv.sql.all('SELECT * FROM presets WHERE user_id IS NULL ORDER BY id') : srv.sql.all('SELECT * FROM presets WHERE user_id = ? ORDER BY id', userId);
const unescape = (html: string) => html.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
/** The chat page's message box and system prompt box, and the picker's options. */
async function composerOf(who: Who, path = '/') {
  const page = (await who.agent.get(path)).text;
  return {
    message: unescape(/<textarea id="message"[^>]*>([^<]*)<\/textarea>/.exec(page)![1]!),
    system: unescape(/<textarea id="system"[^>]*>([^<]*)<\/textarea>/.exec(page)![1]!),
    options: [...page.matchAll(/<option value="(\d+)">([^<]*)<\/option>/g)].map((m) => unescape(m[2]!)),
    page,
  };
}

describe("a user's own presets", () => {
  test('made, picked in the composer (a prompt fills the textbox, a system prompt the system box), renamed and edited, deleted', async () => {
    const user = await newUser(srv);
    expect((await form(user, '/presets', { kind: 'prompt', name: 'Summarise', body: 'Summarise this text in three points:\r\n' })).status).toBe(303);
    expect((await form(user, '/presets', { kind: 'system', name: 'Tutor', body: 'You are a patient tutor.' })).status).toBe(303);
    const [prompt, system] = await presetsOf(user.id);
    expect(prompt).toMatchObject({ kind: 'prompt', name: 'Summarise', body: 'Summarise this text in three points:', group_id: null });

    expect((await composerOf(user)).options).toEqual(['Summarise (Prompt)', 'Tutor (System prompt)']);
    const filled = await composerOf(user, `/?preset=${prompt.id}`);
    expect(filled.message).toBe('Summarise this text in three points:');
    const sys = await composerOf(user, `/?preset=${system.id}`);
    expect(sys.system).toBe('You are a patient tutor.');
    expect(sys.page).toContain('<details class="additional" open>');

    expect((await form(user, `/presets/${prompt.id}`, { kind: 'prompt', name: 'Three points', body: 'In three points:' })).status).toBe(303);
    expect((await presetsOf(user.id))[0]).toMatchObject({ name: 'Three points', body: 'In three points:' });
    expect((await form(user, `/presets/${prompt.id}/delete`)).status).toBe(303);
    expect((await presetsOf(user.id)).map((p) => p.name)).toEqual(['Tutor']);
  });

  test("another user's preset: edit, delete and pick are 404 or ignored, and change nothing", async () => {
    const owner = await newUser(srv);
    const other = await newUser(srv);
    await form(owner, '/presets', { kind: 'prompt', name: 'Mine', body: 'Secret prompt' });
    const [mine] = await presetsOf(owner.id);
    expect((await form(other, `/presets/${mine.id}`, { kind: 'prompt', name: 'Stolen', body: 'x' })).status).toBe(404);
    expect((await form(other, `/presets/${mine.id}/delete`)).status).toBe(404);
    const picked = await composerOf(other, `/?preset=${mine.id}`);
    expect(picked.message).toBe('');
    expect(picked.page).toContain('That preset no longer exists.');
    expect(picked.page).not.toContain('Secret prompt');
    expect((await other.agent.get('/presets')).text).not.toContain('Secret prompt');
    // The picker's JSON (with JavaScript) answers the same: nothing of another user's preset.
    expect((await owner.agent.get(`/presets/${mine.id}/fill`).set('Accept', 'application/json')).body).toMatchObject({ draft: 'Secret prompt' });
    const fill = await other.agent.get(`/presets/${mine.id}/fill`).set('Accept', 'application/json');
    expect(fill.body).toEqual({ note: 'That preset no longer exists.' });
    expect((await srv.agent().get(`/presets/${mine.id}/fill`).set('Accept', 'application/json')).status).toBe(401);
    expect(await presetsOf(owner.id)).toEqual([mine]);
  });

  test('bad input is a 422 that keeps what was typed and changes nothing; no CSRF token is 403', async () => {
    const user = await newUser(srv);
    const cases: Array<[Record<string, string>, string]> = [
      [{ kind: 'prompt', name: '', body: 'x' }, 'Give the preset a name of at most 80 characters.'],
      [{ kind: 'prompt', name: 'n'.repeat(81), body: 'x' }, 'Give the preset a name of at most 80 characters.'],
      [{ kind: 'prompt', name: 'Long', body: 'b'.repeat(20_001) }, 'Write the text, at most 20,000 characters.'],
      [{ kind: 'prompt', name: 'Blank', body: '   ' }, 'Write the text, at most 20,000 characters.'],
      [{ kind: 'other', name: 'Kind', body: 'x' }, 'Choose a prompt or a system prompt.'],
    ];
    for (const [fields, message] of cases) {
      const res = await form(user, '/presets', fields);
      expect(res.status).toBe(422);
      expect(res.text).toContain(message);
    }
    expect((await form(user, '/presets', { kind: 'prompt', name: 'Kept name', body: '' })).text).toContain('value="Kept name"');
    expect((await user.agent.post('/presets').type('form').send({ kind: 'prompt', name: 'x', body: 'y' })).status).toBe(403);
    expect(await presetsOf(user.id)).toEqual([]);
  });

  test('at 100 presets the next is refused with 409', async () => {
    const user = await newUser(srv);
    for (let i = 0; i < 100; i++) await srv.sql.run("INSERT INTO presets (user_id, kind, name, body) VALUES (?, 'prompt', ?, 'x')", user.id, `p${i}`);
    const res = await form(user, '/presets', { kind: 'prompt', name: 'One more', body: 'x' });
    expect(res.status).toBe(409);
    expect(res.text).toContain('There are 100 presets already');
    expect(await presetsOf(user.id)).toHaveLength(100);
  });
});

describe('published presets', () => {
  test('to everybody: members see it read-only and can pick it, cannot change it; audited', async () => {
    const user = await newUser(srv);
    expect((await form(admin, '/admin/presets', { kind: 'prompt', name: 'Essay feedback', body: 'Give feedback on my essay:' })).status).toBe(303);
    const [published] = await presetsOf(null);
    const page = (await user.agent.get('/presets')).text;
    expect(page).toContain('Published by administrators');
    expect(page).toContain('Essay feedback');
    expect(page).not.toContain(`action="/presets/${published.id}"`);
    expect((await composerOf(user, `/?preset=${published.id}`)).message).toBe('Give feedback on my essay:');
    expect((await form(user, `/presets/${published.id}`, { kind: 'prompt', name: 'Mine now', body: 'x' })).status).toBe(404);
    expect((await form(user, `/presets/${published.id}/delete`)).status).toBe(404);
    expect((await form(user, '/admin/presets', { kind: 'prompt', name: 'Not admin', body: 'x' })).status).toBe(404);
    const audit = await srv.sql.all("SELECT actor_id, detail FROM admin_audit WHERE action = 'preset_publish'");
    expect(audit.map((a) => [a.actor_id, JSON.parse(a.detail)])).toContainEqual([admin.id, { preset: 'Essay feedback', kind: 'prompt', group: null }]);
    expect((await form(admin, `/admin/presets/${published.id}/delete`)).status).toBe(303);
    expect(await srv.sql.value("SELECT count(*) FROM admin_audit WHERE action = 'preset_delete'")).toBe(1);
  });

  test("to a group: its members see it, others do not; a group's locked system prompt is kept over a preset's", async () => {
    const inGroup = await newUser(srv);
    const outside = await newUser(srv);
    const groupId = await srv.database.write(createGroup, null, 'Class 7B');
    await srv.database.write(addMembers, null, groupId, [inGroup.id]);
    await form(admin, '/admin/presets', { kind: 'system', name: 'Socratic', body: 'Answer with questions.', group_id: String(groupId) });
    const preset = (await presetsOf(null)).find((p) => p.name === 'Socratic')!;
    expect(Number(preset.group_id)).toBe(groupId);
    expect((await composerOf(inGroup)).options).toContain('Socratic (System prompt)');
    expect((await composerOf(outside)).options).not.toContain('Socratic (System prompt)');
    expect((await composerOf(outside, `/?preset=${preset.id}`)).system).toBe('');
    expect((await composerOf(inGroup, `/?preset=${preset.id}`)).system).toBe('Answer with questions.');

    await srv.database.write(setGroupPrompt, null, groupId, { text: 'Only talk about biology.', locked: true });
    const locked = await composerOf(inGroup, `/?preset=${preset.id}`);
    expect(locked.system).toBe('Only talk about biology.');
    expect(locked.page).toContain('The group Class 7B sets a system prompt you cannot change, so the preset was not used.');
    expect((await inGroup.agent.get(`/presets/${preset.id}/fill`).set('Accept', 'application/json')).body).toEqual({
      note: 'The group Class 7B sets a system prompt you cannot change, so the preset was not used.',
    });
  });

  test('an admin edit moves a preset to another audience; a group that does not exist is 422', async () => {
    const user = await newUser(srv);
    await form(admin, '/admin/presets', { kind: 'prompt', name: 'Moving', body: 'x' });
    const preset = (await presetsOf(null)).find((p) => p.name === 'Moving')!;
    expect((await composerOf(user)).options).toContain('Moving (Prompt)');
    const groupId = await srv.database.write(createGroup, null, 'Staff');
    expect((await form(admin, `/admin/presets/${preset.id}`, { kind: 'prompt', name: 'Moving', body: 'x', group_id: String(groupId) })).status).toBe(303);
    expect((await composerOf(user)).options).not.toContain('Moving (Prompt)');
    const res = await form(admin, '/admin/presets', { kind: 'prompt', name: 'Nowhere', body: 'x', group_id: '99999999' });
    expect(res.status).toBe(422);
    expect(res.text).toContain('That group no longer exists.');
    expect(await srv.sql.value("SELECT count(*) FROM presets WHERE name = 'Nowhere'")).toBe(0);
    expect(await srv.sql.value("SELECT count(*) FROM admin_audit WHERE action = 'preset_update'")).toBe(1);
  });
});
