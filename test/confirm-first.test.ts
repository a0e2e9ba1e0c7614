// Actions that cannot be undone or cut someone off ask first (issue 26: 7): voiding a code or a
// batch, disabling an account, making an administrator a member, revoking a key (one's own, or an
// admin revoking a user's). The first post answers with a page asking, changing nothing; its form
// sends the action again, confirmed. JSON clients are not asked.
import { dashboardSuite, member, postForm, type Member } from './dashboard-helpers';
import { csrfFrom, type TestServer } from './helpers';

const suite = dashboardSuite('confirmer');
let srv: TestServer;
let admin: Member;
beforeAll(() => ({ srv, admin } = suite));

/** The confirm page's form: its action and fields. */
function confirmForm(html: string): { action: string; fields: Record<string, string> } {
  const form = /<form method="post" action="([^"]+)" class="stack">([\s\S]*?)<\/form>/.exec(html);
  if (!form) throw new Error('no confirm form');
  return { action: form[1]!, fields: Object.fromEntries([...form[2]!.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!])) };
}

/** Posts the action unconfirmed (answered by the page asking), then the page's own form. */
async function askedThenDone(m: Member, url: string, form: Record<string, string>, page: string, question: RegExp, check: () => Promise<unknown>, before: unknown) {
  const asked = await postForm(m.agent, url, form, page);
  expect(asked.status).toBe(200);
  expect(asked.text).toMatch(question);
  expect(asked.text).toContain('name="confirm" value="1"');
  expect(await check()).toEqual(before); // nothing changed yet
  const { action, fields } = confirmForm(asked.text);
  expect(action).toBe(url);
  const done = await m.agent.post(action).type('form').send(fields);
  expect(done.status).toBe(303);
  return done;
}

test('voiding a code and a batch asks first; confirmed, they are void', async () => {
  const made = await admin.agent.post('/admin/codes').set('Accept', 'application/json').send({ tokens: 10, count: 3 });
  expect(made.status).toBe(201);
  const ids = (await srv.sql.all<{ id: number }>('SELECT id FROM redemption_codes WHERE batch_id = ? ORDER BY id', made.body.batch)).map((r) => Number(r.id));
  const state = (id: number) => srv.sql.value('SELECT voided_at IS NOT NULL FROM redemption_codes WHERE id = ?', id).then(Number);
  await askedThenDone(admin, `/admin/codes/${ids[0]}/void`, {}, '/admin/codes', new RegExp(`Void code #${ids[0]}\\?`), () => state(ids[0]!), 0);
  expect(await state(ids[0]!)).toBe(1);
  const batch = await askedThenDone(admin, `/admin/codes/batches/${made.body.batch}/void`, {}, '/admin/codes', /Void the unused codes of batch #\d+\?/, () => state(ids[1]!), 0);
  expect(batch.headers.location).toBe('/admin/codes?done=batch&n=2');
  expect(await state(ids[2]!)).toBe(1);
});

test('disabling an account and making an administrator a member ask first, naming them; making an administrator does not', async () => {
  const m = await member(srv, 'confirm_target');
  const row = () => srv.sql.get<{ disabled: number; role: string }>('SELECT disabled, role FROM users WHERE id = ?', m.id).then((r) => ({ disabled: Number(r!.disabled), role: r!.role }));
  const promoted = await postForm(admin.agent, `/admin/users/${m.id}/role`, { role: 'admin' }, '/admin/users');
  expect(promoted.status).toBe(303);
  await askedThenDone(admin, `/admin/users/${m.id}/role`, { role: 'user' }, '/admin/users', /Make confirm_target a member\?/, row, { disabled: 0, role: 'admin' });
  expect(await row()).toEqual({ disabled: 0, role: 'user' });
  await askedThenDone(admin, `/admin/users/${m.id}/disable`, {}, '/admin/users', /Disable the account confirm_target\?/, row, { disabled: 0, role: 'user' });
  expect(await row()).toEqual({ disabled: 1, role: 'user' });
  // No such user: 404, not a question.
  expect((await postForm(admin.agent, '/admin/users/99999999/disable', {}, '/admin/users')).status).toBe(404);
});

test('revoking a key asks first (the owner, and an admin); another user\'s key is 404 before any question', async () => {
  const m = await member(srv, 'confirm_keys');
  const form = (name: string) => ({ name, form_id: `confirm-${name}` });
  for (const name of ['mine', 'theirs']) expect((await postForm(m.agent, '/keys', form(name), '/keys')).status).toBe(201);
  const keys = await srv.sql.all<{ id: number; name: string }>('SELECT id, name FROM api_keys WHERE user_id = ? ORDER BY id', m.id);
  const revoked = (id: number) => srv.sql.value('SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = ?', id).then(Number);
  const [mine, theirs] = keys.map((k) => Number(k.id));
  const other = await member(srv, 'confirm_other');
  expect((await postForm(other.agent, `/keys/${mine}/revoke`, {}, '/keys')).status).toBe(404);
  await askedThenDone(m, `/keys/${mine}/revoke`, {}, '/keys', /Revoke the key “mine”\?/, () => revoked(mine!), 0);
  expect(await revoked(mine!)).toBe(1);
  expect((await postForm(m.agent, `/keys/${mine}/revoke`, { confirm: '1' }, '/keys')).status).toBe(404); // already revoked
  await askedThenDone(admin, `/admin/users/${m.id}/keys/${theirs}/revoke`, {}, `/admin/users/${m.id}`, /Revoke the key “theirs” of confirm_keys\?/, () => revoked(theirs!), 0);
  expect(await revoked(theirs!)).toBe(1);
});

test('a JSON client is not asked', async () => {
  const m = await member(srv, 'confirm_json');
  const page = await admin.agent.get('/admin/users');
  const res = await admin.agent.post(`/admin/users/${m.id}/disable`).set('Accept', 'application/json').send({ _csrf: csrfFrom(page.text) });
  expect(res.status).toBe(200);
  expect(res.body.user.disabled).toBeTruthy();
});

test('creating codes from the page says what was made, empties the form and offers the codes once; a script gets the CSV', async () => {
  const page = await admin.agent.get('/admin/codes');
  const form = { _csrf: csrfFrom(page.text), tokens: '250', count: '2', note: 'made here' };
  const made = await admin.agent.post('/admin/codes').type('form').set('Accept', 'text/html,application/xhtml+xml,*/*;q=0.8').send(form);
  expect(made.status).toBe(201);
  expect(made.text).toMatch(/Batch #(\d+) made: 2 codes of 250 tokens each\./);
  expect(made.text).toMatch(/<input id="tokens" name="tokens" type="text"[^>]*value=""/);
  const href = /href="data:text\/csv;charset=utf-8;base64,([^"]+)" download="tokenchat-codes-batch-(\d+)\.csv"/.exec(made.text)!;
  const csv = Buffer.from(href[1]!, 'base64').toString('utf8').replace(/^\uFEFF/, '').trim().split('\r\n');
  expect(csv[0]).toBe('code,tokens,expires_utc,batch,note');
  expect(csv).toHaveLength(3);
  const codes = /<textarea id="made-codes"[^>]*>([^<]*)<\/textarea>/.exec(made.text)![1]!.split('\n');
  expect(codes).toEqual(csv.slice(1).map((line) => line.split(',')[0]));
  // Not kept: the next page does not show them.
  expect((await admin.agent.get('/admin/codes')).text).not.toContain(codes[0]!);
  const script = await admin.agent.post('/admin/codes').type('form').send({ ...form, _csrf: csrfFrom((await admin.agent.get('/admin/codes')).text) });
  expect(script.headers['content-type']).toMatch(/^text\/csv/);
});
