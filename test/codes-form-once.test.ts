// The create-codes form is a one-time form: sent again (a reload of the page that showed a batch,
// which resends the POST, or two clicks at once), it makes no second batch, on the page and in the
// CSV answer alike; a form older than a week, or an id this server did not issue, makes nothing.
import { dashboardSuite, type Member } from './dashboard-helpers';
import { csrfFrom, type TestServer } from './helpers';
import { newFormId } from '../src/http/form-id';

const suite = dashboardSuite('codes_once_admin');
let srv: TestServer;
let admin: Member;
beforeAll(() => ({ srv, admin } = suite));

const counts = async () => ({
  codes: Number(await srv.sql.value('SELECT count(*) FROM redemption_codes')),
  batches: Number(await srv.sql.value('SELECT count(*) FROM code_batches')),
  audited: Number(await srv.sql.value("SELECT count(*) FROM admin_audit WHERE action = 'codes_create'")),
});

/** The create form as the page shows it: its CSRF token and its own form id. */
async function freshForm() {
  const html = (await admin.agent.get('/admin/codes')).text;
  const formId = /name="form_id" value="([^"]+)"/.exec(html)?.[1];
  expect(formId).toBeDefined();
  return { _csrf: csrfFrom(html), form_id: formId! };
}

const send = (form: Record<string, string>, accept = 'text/html') =>
  admin.agent.post('/admin/codes').set('Accept', accept).type('form').send({ tokens: '300', count: '4', note: 'term 2', ...form });

test('the page, sent again with the same form, makes one batch and says the first made it', async () => {
  const form = await freshForm();
  const before = await counts();
  const first = await send(form);
  expect(first.status).toBe(201);
  expect(first.text).toMatch(/Batch #\d+ made: 4 codes of 300 tokens each\./);
  const again = await send(form); // the browser's reload of that page
  expect(again.status).toBe(409);
  expect(again.text).toContain('This form was already sent and its batch was made then: nothing new was created.');
  expect(again.text).toContain('<a href="#batches-title">See the batches</a>');
  expect(again.text).not.toContain('id="made-codes"');
  expect(await counts()).toEqual({ codes: before.codes + 4, batches: before.batches + 1, audited: before.audited + 1 });
  // The page shown again carries a new form: it makes a new batch.
  const next = /name="form_id" value="([^"]+)"/.exec(again.text)![1]!;
  expect(next).not.toBe(form.form_id);
  expect((await send({ ...form, form_id: next })).status).toBe(201);
  expect((await counts()).batches).toBe(before.batches + 2);
  const zh = await admin.agent.post('/admin/codes').set('Accept-Language', 'zh-CN').type('form').send({ tokens: '300', count: '4', ...form });
  expect(zh.text).toContain('此表单已经提交过');
});

test('the CSV answer and the JSON one keep the same rule; two sends at once make one batch', async () => {
  const form = await freshForm();
  const before = await counts();
  const csv = await send(form, 'text/csv');
  expect(csv.status).toBe(201);
  expect(csv.headers['content-type']).toMatch(/^text\/csv/);
  const csvAgain = await send(form, 'text/csv');
  expect(csvAgain.status).toBe(409);
  expect(csvAgain.headers['content-type']).toMatch(/^text\/plain/);
  expect(csvAgain.text).not.toContain('TC-');
  const json = await send(form, 'application/json');
  expect(json.status).toBe(409);
  expect(json.body.error).toMatchObject({ status: 409, reason: 'repeated' });
  expect(await counts()).toEqual({ codes: before.codes + 4, batches: before.batches + 1, audited: before.audited + 1 });

  const racing = await freshForm();
  const both = await Promise.all([send(racing), send(racing), send(racing)]);
  expect(both.map((r) => r.status).sort()).toEqual([201, 409, 409]);
  expect(await counts()).toEqual({ codes: before.codes + 8, batches: before.batches + 2, audited: before.audited + 2 });
});

test('a form older than a week, from the future, or with an id this server did not issue makes nothing', async () => {
  const { _csrf } = await freshForm();
  const before = await counts();
  const day = 86_400_000;
  for (const formId of [newFormId(Date.now() - 7 * day - 60_000), newFormId(Date.now() + 10 * 60_000), 'mine', 'zz-zz', '0-x']) {
    const res = await send({ _csrf, form_id: formId });
    expect({ formId, status: res.status }).toEqual({ formId, status: 409 });
    expect(res.text).toContain('This form is out of date (shown more than a week ago, or not by this page): nothing was created.');
  }
  // Sent with no form at all (a script), each request is a batch, as before.
  expect((await admin.agent.post('/admin/codes').set('Accept', 'application/json').send({ tokens: 10, count: 1 })).status).toBe(201);
  expect(await counts()).toEqual({ codes: before.codes + 1, batches: before.batches + 1, audited: before.audited + 1 });
  // A form of six days ago is still taken.
  expect((await send({ _csrf, form_id: newFormId(Date.now() - 6 * day) })).status).toBe(201);
});
