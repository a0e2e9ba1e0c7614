// /admin/groups (issue 24, slice 1): an admin creates, renames and deletes groups, sets the models
// their members may use and the percent of the price they pay, and adds and removes members many
// at once; every form re-renders with 422 on an error, and nobody else reaches any of it.
import request from 'supertest';
import { member, type Member } from './dashboard-helpers';
import { csrfFrom, startTestServer, type Agent, type TestServer } from './helpers';

let srv: TestServer;
let admin: Member;
beforeAll(async () => {
  // A model API key (never called here), so every model of the models file is served, embeddings too.
  srv = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' });
  admin = await member(srv, 'boss'); // the first account is the administrator
});
afterAll(() => srv.close());

/** Posts a form with the CSRF token of the page it is on. */
async function post(agent: Agent, url: string, form: Record<string, string | string[]>, page = '/admin/groups') {
  const _csrf = csrfFrom((await agent.get(page)).text);
  return agent.post(url).type('form').send({ _csrf, ...form });
}

interface GroupState {
  name: string;
  models: string | null;
  percent: number;
  builtin: number;
}
const groupNamed = (name: string) =>
  srv.sql.get<GroupState & { id: number }>('SELECT id, name, models, price_percent AS percent, builtin FROM groups WHERE name = ?', name);
const membersOf = async (groupId: number) =>
  (await srv.sql.all<{ username: string }>('SELECT u.username FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = ? ORDER BY u.username', groupId)).map((r) => r.username);
const audits = (action: string) =>
  srv.sql.all<{ actor: number; target: number | null; detail: string }>('SELECT actor_id AS actor, target_user_id AS target, detail FROM admin_audit WHERE action = ? ORDER BY id', action);

async function newGroup(name: string): Promise<number> {
  const res = await post(admin.agent, '/admin/groups', { name });
  expect(res.status).toBe(303);
  return (await groupNamed(name))!.id;
}

describe('groups list and create', () => {
  test('GET /admin/groups lists Everyone; POST creates a group, audited, and opens its page', async () => {
    const list = await admin.agent.get('/admin/groups');
    expect(list.status).toBe(200);
    expect(list.text).toContain('<a href="/admin/groups" aria-current="page">Groups</a>');
    expect(list.text).toMatch(/<a href="\/admin\/groups\/\d+">Everyone<\/a>/);
    const res = await post(admin.agent, '/admin/groups', { name: '  Class 3  ' });
    expect(res.status).toBe(303);
    const group = (await groupNamed('Class 3'))!;
    expect(group).toMatchObject({ models: null, percent: 100, builtin: 0 });
    expect(res.headers.location).toBe(`/admin/groups/${group.id}?done=created`);
    expect((await admin.agent.get(res.headers.location)).text).toContain('Group Class 3 created.');
    expect((await audits('group_create')).map((a) => [a.actor, JSON.parse(a.detail).group])).toEqual([[admin.id, 'Class 3']]);
    const after = await admin.agent.get('/admin/groups');
    expect(after.text).toMatch(new RegExp(`<a href="/admin/groups/${group.id}">Class 3</a></th>\\s*<td class="num">0</td>`));
  });

  test('a duplicate or empty name re-renders the form with 422, the input and the reason, and creates nothing', async () => {
    await newGroup('Staff');
    const dup = await post(admin.agent, '/admin/groups', { name: 'Staff' });
    expect(dup.status).toBe(422);
    expect(dup.text).toContain('There is already a group called Staff.');
    expect(dup.text).toMatch(/<input id="name" name="name" type="text" autocomplete="off"\s+value="Staff"/);
    expect(dup.text).toContain('aria-invalid="true"');
    const empty = await post(admin.agent, '/admin/groups', { name: '   ' });
    expect(empty.status).toBe(422);
    expect(empty.text).toContain('A group name has 1 to 60 characters.');
    const long = await post(admin.agent, '/admin/groups', { name: 'x'.repeat(61) });
    expect(long.status).toBe(422);
    expect(await srv.sql.value("SELECT count(*) FROM groups WHERE name = 'Staff' OR name = '' OR length(name) > 60")).toBe(1);
  });
});

describe('one group', () => {
  test('rename: the new name shows and is audited; a taken name is 422 in the rename form', async () => {
    const id = await newGroup('Dept A');
    await newGroup('Dept B');
    const res = await post(admin.agent, `/admin/groups/${id}/rename`, { name: 'Department A' }, `/admin/groups/${id}`);
    expect(res.headers.location).toBe(`/admin/groups/${id}?done=renamed`);
    expect((await admin.agent.get(res.headers.location)).text).toContain('<h1>Department A</h1>');
    expect(JSON.parse((await audits('group_rename')).at(-1)!.detail)).toEqual({ group: 'Department A', was: 'Dept A' });
    const taken = await post(admin.agent, `/admin/groups/${id}/rename`, { name: 'Dept B' }, `/admin/groups/${id}`);
    expect(taken.status).toBe(422);
    expect(taken.text).toContain('There is already a group called Dept B.');
    expect(taken.text).toMatch(/value="Dept B"/);
    expect((await groupNamed('Department A'))!.id).toBe(id);
  });

  test('the rules form lists every served model, chat and embedding, and saves the ticked ones and the percent', async () => {
    const id = await newGroup('Class 4');
    const page = await admin.agent.get(`/admin/groups/${id}`);
    for (const model of ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small']) expect(page.text).toContain(`name="models" value="${model}"`);
    expect(page.text).toContain('100 = the models&#39; own price; 50 = half');
    expect(page.text).toMatch(/id="scope-all" name="scope" value="all" checked/);
    const res = await post(admin.agent, `/admin/groups/${id}/rules`, { scope: 'listed', models: ['gpt-4o-mini', 'text-embedding-3-small'], price_percent: '50' }, `/admin/groups/${id}`);
    expect(res.headers.location).toBe(`/admin/groups/${id}?done=rules`);
    expect(await groupNamed('Class 4')).toMatchObject({ models: '["gpt-4o-mini","text-embedding-3-small"]', percent: 50 });
    const after = (await admin.agent.get(res.headers.location)).text;
    expect(after).toContain('The rules were saved.');
    expect(after).toMatch(/value="gpt-4o-mini" checked/);
    expect(after).not.toMatch(/value="gpt-4o" checked/);
    expect(after).toMatch(/id="scope-listed" name="scope" value="listed" checked/);
    expect(JSON.parse((await audits('group_rules')).at(-1)!.detail)).toEqual({ group: 'Class 4', models: ['gpt-4o-mini', 'text-embedding-3-small'], percent: 50 });
    // "Every model" keeps no list, whatever is ticked.
    await post(admin.agent, `/admin/groups/${id}/rules`, { scope: 'all', models: 'gpt-4o', price_percent: '1000' }, `/admin/groups/${id}`);
    expect(await groupNamed('Class 4')).toMatchObject({ models: null, percent: 1000 });
  });

  test.each([
    ['0', ['gpt-4o'], 'The price is a whole percent from 1 to 1000.'],
    ['1001', ['gpt-4o'], 'The price is a whole percent from 1 to 1000.'],
    ['12.5', ['gpt-4o'], 'The price is a whole percent from 1 to 1000.'],
    ['half', ['gpt-4o'], 'The price is a whole percent from 1 to 1000.'],
    ['80', ['gpt-4o', 'gpt-9-ultra'], 'No such model is served: gpt-9-ultra.'],
  ])('rules with percent %j and models %j: 422, the form as sent, nothing saved', async (percent, models, reason) => {
    const name = `Rules ${percent}`;
    const id = await newGroup(name);
    const res = await post(admin.agent, `/admin/groups/${id}/rules`, { scope: 'listed', models, price_percent: percent }, `/admin/groups/${id}`);
    expect(res.status).toBe(422);
    expect(res.text).toContain(reason);
    expect(res.text).toMatch(/value="gpt-4o" checked/);
    expect(res.text).toMatch(/id="scope-listed" name="scope" value="listed" checked/);
    expect(res.text).toContain(`value="${percent}"`);
    expect(await groupNamed(name)).toMatchObject({ models: null, percent: 100 });
  });

  test('search lists matching users not yet in; many are added at once and many removed at once, each audited', async () => {
    const id = await newGroup('Class 5');
    const [ann, bob, cy, dee] = await Promise.all(['pupil-ann', 'pupil-bob', 'pupil-cy', 'teacher-dee'].map((n) => member(srv, n)));
    const search = await admin.agent.get(`/admin/groups/${id}?q=pupil`);
    for (const m of [ann!, bob!, cy!]) expect(search.text).toContain(`<label for="candidate-${m.id}">${m.name}</label>`);
    expect(search.text).not.toContain(`candidate-${dee!.id}`);
    const add = await post(admin.agent, `/admin/groups/${id}/members/add`, { users: [String(ann!.id), String(bob!.id), String(cy!.id)], q: 'pupil' }, `/admin/groups/${id}?q=pupil`);
    expect(add.status).toBe(303);
    expect(add.headers.location).toBe(`/admin/groups/${id}?done=added&n=3&q=pupil`);
    expect(await membersOf(id)).toEqual(['pupil-ann', 'pupil-bob', 'pupil-cy']);
    const after = (await admin.agent.get(add.headers.location)).text;
    expect(after).toContain('Members added: 3.');
    expect(after).toContain('Members (3)');
    expect(after).toContain('No user matches who is not in the group already.'); // all three are in now
    // Adding someone already in adds nobody twice.
    const again = await post(admin.agent, `/admin/groups/${id}/members/add`, { users: [String(ann!.id), String(dee!.id)] }, `/admin/groups/${id}`);
    expect(again.headers.location).toBe(`/admin/groups/${id}?done=added&n=1`);
    const byId = (a: number, b: number) => a - b;
    const added = (await audits('group_add')).filter((a) => JSON.parse(a.detail).group === 'Class 5');
    expect(added.map((a) => Number(a.target)).sort(byId)).toEqual([ann!.id, bob!.id, cy!.id, dee!.id].sort(byId));
    expect(added.every((a) => a.actor === admin.id)).toBe(true);

    const remove = await post(admin.agent, `/admin/groups/${id}/members/remove`, { users: [String(bob!.id), String(dee!.id)] }, `/admin/groups/${id}`);
    expect(remove.headers.location).toBe(`/admin/groups/${id}?done=removed&n=2`);
    expect(await membersOf(id)).toEqual(['pupil-ann', 'pupil-cy']);
    const removed = await audits('group_remove');
    expect(removed.map((a) => Number(a.target)).sort(byId)).toEqual([bob!.id, dee!.id].sort(byId));
    expect(removed.every((a) => a.actor === admin.id)).toBe(true);
    // Nothing ticked: 422 with a message; a user that does not exist: 422 naming it.
    const none = await post(admin.agent, `/admin/groups/${id}/members/remove`, {}, `/admin/groups/${id}`);
    expect(none.status).toBe(422);
    expect(none.text).toContain('Tick at least one user.');
    const ghost = await post(admin.agent, `/admin/groups/${id}/members/add`, { users: '99999' }, `/admin/groups/${id}`);
    expect(ghost.status).toBe(422);
    expect(ghost.text).toContain('No such user: 99999.');
    expect(await membersOf(id)).toEqual(['pupil-ann', 'pupil-cy']);

    // The user's admin page lists the groups they are in.
    const annPage = (await admin.agent.get(`/admin/users/${ann!.id}`)).text;
    expect(annPage).toContain(`<a href="/admin/groups/${id}">Class 5</a>`);
    expect((await admin.agent.get(`/admin/users/${bob!.id}`)).text).toContain('In no group: Everyone&#39;s rules apply.');
  });

  test('delete asks first; confirmed, the group and its memberships go, audited', async () => {
    const id = await newGroup('Short course');
    const m = await member(srv, 'coursetaker');
    await post(admin.agent, `/admin/groups/${id}/members/add`, { users: String(m.id) }, `/admin/groups/${id}`);
    const ask = await post(admin.agent, `/admin/groups/${id}/delete`, {}, `/admin/groups/${id}`);
    expect(ask.status).toBe(200);
    expect(ask.text).toContain('Delete the group Short course?');
    expect(ask.text).toContain('<input type="hidden" name="confirm" value="1">');
    expect(await groupNamed('Short course')).toBeDefined();
    const _csrf = csrfFrom(ask.text);
    const done = await admin.agent.post(`/admin/groups/${id}/delete`).type('form').send({ _csrf, confirm: '1' });
    expect(done.headers.location).toBe('/admin/groups?done=deleted');
    expect((await admin.agent.get(done.headers.location)).text).toContain('The group was deleted.');
    expect(await groupNamed('Short course')).toBeUndefined();
    expect(await srv.sql.value('SELECT count(*) FROM group_members WHERE group_id = ?', id)).toBe(0);
    expect(JSON.parse((await audits('group_delete')).at(-1)!.detail)).toEqual({ group: 'Short course', members: 1 });
    expect((await admin.agent.get(`/admin/groups/${id}`)).status).toBe(404);
  });

  test('Everyone: rules only, no rename, delete or members; forged posts are refused and change nothing', async () => {
    const everyone = (await groupNamed('Everyone'))!;
    const page = await admin.agent.get(`/admin/groups/${everyone.id}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('Everyone is built in');
    for (const action of ['rename', 'delete', 'members/add', 'members/remove']) expect(page.text).not.toContain(`/admin/groups/${everyone.id}/${action}`);
    const m = await member(srv, 'everyman');
    for (const [action, form] of [['rename', { name: 'All' }], ['delete', { confirm: '1' }], ['members/add', { users: String(m.id) }]] as const) {
      const res = await post(admin.agent, `/admin/groups/${everyone.id}/${action}`, form, `/admin/groups/${everyone.id}`);
      expect({ action, status: res.status }).toEqual({ action, status: 422 });
      expect(res.text).toContain('Everyone is built in: it cannot be renamed or deleted');
    }
    expect(await groupNamed('Everyone')).toMatchObject({ builtin: 1 });
    expect(await srv.sql.value('SELECT count(*) FROM group_members WHERE group_id = ?', everyone.id)).toBe(0);
    // Its rules can be set, as for any group.
    const rules = await post(admin.agent, `/admin/groups/${everyone.id}/rules`, { scope: 'listed', models: 'gpt-4o-mini', price_percent: '100' }, `/admin/groups/${everyone.id}`);
    expect(rules.status).toBe(303);
    expect(await groupNamed('Everyone')).toMatchObject({ models: '["gpt-4o-mini"]' });
    await post(admin.agent, `/admin/groups/${everyone.id}/rules`, { scope: 'all', price_percent: '100' }, `/admin/groups/${everyone.id}`);
  });

  test('an unknown group is 404 on every route', async () => {
    expect((await admin.agent.get('/admin/groups/99999')).status).toBe(404);
    for (const action of ['rename', 'rules', 'delete', 'members/add', 'members/remove']) {
      const res = await post(admin.agent, `/admin/groups/99999/${action}`, { name: 'x', price_percent: '50', users: String(admin.id), confirm: '1' });
      expect({ action, status: res.status }).toEqual({ action, status: 404 });
    }
  });

  test('the groups pages render in Chinese', async () => {
    const id = await newGroup('三班');
    const zh = await admin.agent.get(`/admin/groups/${id}`).set('Accept-Language', 'zh-CN');
    expect(zh.text).toContain('100 = 模型本身的价格；50 = 半价');
    expect(zh.text).toContain('成员可用的模型');
    const dup = await post(admin.agent, '/admin/groups', { name: '三班' });
    expect(dup.status).toBe(422);
    const dupZh = await admin.agent.post('/admin/groups').set('Accept-Language', 'zh-CN').type('form').send({ _csrf: csrfFrom((await admin.agent.get('/admin/groups')).text), name: '三班' });
    expect(dupZh.text).toContain('已有名为 三班 的用户组。');
  });
});

describe('who may reach /admin/groups', () => {
  test('members and the signed-out get 404 on every groups page and action, and nothing changes', async () => {
    const id = await newGroup('Locked');
    const m = await member(srv, 'outsider');
    const _csrf = csrfFrom((await m.agent.get('/usage')).text);
    const before = await srv.sql.all('SELECT * FROM groups ORDER BY id');
    for (const url of ['/admin/groups', `/admin/groups/${id}`, `/admin/groups/${id}?q=out`]) {
      expect({ url, status: (await m.agent.get(url)).status }).toEqual({ url, status: 404 });
      expect({ url, status: (await request(srv.url).get(url)).status }).toEqual({ url, status: 404 });
    }
    const posts: Array<[string, Record<string, string>]> = [
      ['/admin/groups', { name: 'Mine' }],
      [`/admin/groups/${id}/rename`, { name: 'Pwned' }],
      [`/admin/groups/${id}/rules`, { scope: 'all', price_percent: '1' }],
      [`/admin/groups/${id}/delete`, { confirm: '1' }],
      [`/admin/groups/${id}/members/add`, { users: String(m.id) }],
      [`/admin/groups/${id}/members/remove`, { users: String(m.id) }],
    ];
    for (const [url, form] of posts) {
      expect({ url, status: (await m.agent.post(url).type('form').send({ _csrf, ...form })).status }).toEqual({ url, status: 404 });
      expect({ url, status: (await m.agent.post(url).send(form)).status }).toEqual({ url, status: 404 });
      expect({ url, status: (await request(srv.url).post(url).send(form)).status }).toEqual({ url, status: 404 });
    }
    expect(await srv.sql.all('SELECT * FROM groups ORDER BY id')).toEqual(before);
    expect(await membersOf(id)).toEqual([]);
  });

  test('a form POST without a valid CSRF token is 403 and changes nothing', async () => {
    const id = await newGroup('Guarded');
    const m = await member(srv, 'guardee');
    const forms: Array<[string, Record<string, string>]> = [
      ['/admin/groups', { name: 'Forged' }],
      [`/admin/groups/${id}/rename`, { name: 'Forged' }],
      [`/admin/groups/${id}/rules`, { scope: 'all', price_percent: '1' }],
      [`/admin/groups/${id}/delete`, { confirm: '1' }],
      [`/admin/groups/${id}/members/add`, { users: String(m.id) }],
    ];
    for (const [url, form] of forms) {
      expect({ url, status: (await admin.agent.post(url).type('form').send(form)).status }).toEqual({ url, status: 403 });
      expect({ url, status: (await admin.agent.post(url).type('form').send({ _csrf: 'forged', ...form })).status }).toEqual({ url, status: 403 });
    }
    expect(await groupNamed('Forged')).toBeUndefined();
    expect(await groupNamed('Guarded')).toMatchObject({ models: null, percent: 100 });
    expect(await membersOf(id)).toEqual([]);
  });
});
