// The files of a shared conversation (issue 26): a share link's page shows the questions' images,
// served through the link to anyone who has it, and each document's name, size and the text the
// model read. Only the images of that snapshot, only while the link is live and the question
// exists; never through another link. On SQLite and PostgreSQL alike.
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { composer, conversationIdIn, newUser, post, type User } from './chat-helpers';
import { csrfFrom, startTestServer, type TestServer } from './helpers';
import { PDF_TEXT, PNG } from './attachments-helpers';

let fake: FakeUpstream;
let srv: TestServer;
beforeAll(async () => {
  fake = await startFakeUpstream();
  srv = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, SIGNUP_BONUS: '500000', LOGIN_RATE_LIMIT_PER_IP: '10000' });
});
afterAll(async () => {
  await srv.close();
  await fake.close();
});

type File = { name: string; data: Buffer; type: string };
const LEAF = { name: 'leaf.png', data: PNG, type: 'image/png' };
const ESSAY = { name: 'essay.pdf', data: PDF_TEXT, type: 'application/pdf' };

/** Attaches the files as app.js does; their ids. */
async function attach(user: User, files: File[]): Promise<string[]> {
  if (files.length === 0) return [];
  const _csrf = csrfFrom((await user.agent.get('/')).text); // before the request: it takes the cookies the agent has then
  let req = user.agent.post('/attachments').set('HX-Request', 'true').field('_csrf', _csrf);
  for (const f of files) req = req.attach('file', f.data, { filename: f.name, contentType: f.type });
  const res = await req;
  expect(res.status).toBe(200);
  return [...res.text.matchAll(/name="attachment" value="(\d+)"/g)].map((m) => m[1]!);
}

/** Sends a question with these files (into conversation `id`, or a new one); the conversation's id. */
async function send(user: User, message: string, files: File[], id?: number): Promise<number> {
  const ids = await attach(user, files);
  fake.script({ kind: 'stream', pieces: ['Seen.'] });
  const fields = { ...(await composer(user, id ? `/c/${id}` : '/', message)), attachment: ids };
  const res = await post(user, '/send', fields as unknown as Record<string, string>);
  expect(res.status).toBe(200);
  return id ?? conversationIdIn(res.text);
}

async function form(user: User, path: string, fields: Record<string, string> = {}) {
  const _csrf = csrfFrom((await user.agent.get('/shares')).text);
  return user.agent.post(path).type('form').send({ _csrf, ...fields });
}

async function share(user: User, id: number): Promise<string> {
  expect((await form(user, `/c/${id}/share`)).status).toBe(303);
  return /\/s\/([\w-]{22})/.exec((await user.agent.get('/shares')).text)![1]!;
}

const imageIds = (html: string) => [...html.matchAll(/<img src="\/s\/[\w-]{22}\/files\/(\d+)"/g)].map((m) => m[1]!);
const signedOut = () => srv.agent();

describe('files on a shared page', () => {
  test('signed out: the image through the link (noindex, no-referrer, private), the document by name and size with its text; the owner-only address stays closed', async () => {
    const user = await newUser(srv);
    const id = await send(user, 'Grade my essay and my drawing', [LEAF, ESSAY]);
    const token = await share(user, id);
    const page = await signedOut().get(`/s/${token}`);
    expect(page.status).toBe(200);
    const [image] = imageIds(page.text);
    expect(image).toBeDefined();
    expect(page.text).toContain('alt="Image leaf.png"');
    expect(page.text).toMatch(/essay\.pdf<\/span> <span class="muted small">1 KB, 1 pages/);
    expect(page.text).toContain('Photosynthesis makes sugar'); // what the model read, for the teacher too

    const res = await signedOut().get(`/s/${token}/files/${image}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/png');
    expect(Buffer.from(res.body as Buffer).equals(PNG)).toBe(true);
    expect(res.headers).toMatchObject({
      'x-robots-tag': 'noindex, nofollow', 'referrer-policy': 'no-referrer', 'cache-control': 'private, no-cache', 'x-content-type-options': 'nosniff',
    });
    expect((await signedOut().get(`/attachments/${image}`)).status).not.toBe(200);
  });

  test("a question of files only is shared; another link's token, an image sent after sharing, a document's id, a bad id: 404", async () => {
    const user = await newUser(srv);
    const other = await newUser(srv);
    const id = await send(user, '', [LEAF, ESSAY]);
    const token = await share(user, id);
    const [image] = imageIds((await signedOut().get(`/s/${token}`)).text);
    expect(image).toBeDefined();
    const [later] = await send(user, 'And this one?', [LEAF], id).then(async () => (await srv.sql.all<{ id: number }>(
      "SELECT a.id FROM attachments a WHERE a.user_id = ? AND a.kind = 'image' ORDER BY a.id DESC LIMIT 1", user.id)).map((r) => String(r.id)));
    expect(later).not.toBe(image);
    const document = String(await srv.sql.value<number>("SELECT id FROM attachments WHERE user_id = ? AND kind = 'document'", user.id));
    const othersLink = await share(other, await send(other, 'Mine', [LEAF]));
    const ownOtherLink = await share(user, await send(user, 'Another chat', []));
    for (const [link, file] of [[othersLink, image], [ownOtherLink, image], [token, later], [token, document], [token, '0'], [token, `${image}.0`], [token, `0${image}`], [token, 'x']]) {
      const res = await signedOut().get(`/s/${link}/files/${file}`);
      expect([link, file, res.status]).toEqual([link, file, 404]);
    }
    expect((await signedOut().get(`/s/${token}/files/${image}`)).status).toBe(200);
  });

  test('revoked, its question undone, the conversation deleted, its owner disabled: the image is 404', async () => {
    const user = await newUser(srv);
    const id = await send(user, 'Look', [LEAF]);
    const [revoked, undone] = [await share(user, id), await share(user, id)];
    const image = imageIds((await signedOut().get(`/s/${revoked}`)).text)[0]!;
    const url = (token: string) => `/s/${token}/files/${image}`;
    expect((await signedOut().get(url(revoked))).status).toBe(200); // read once, so the link's images are remembered
    const shareId = (await srv.sql.value<number>('SELECT id FROM shares WHERE token = ?', revoked))!;
    expect((await form(user, `/shares/${shareId}/revoke`)).status).toBe(303);
    const gone = await signedOut().get(url(revoked));
    expect(gone.status).toBe(404);
    expect(gone.headers['x-robots-tag']).toBe('noindex, nofollow');

    await srv.sql.run('UPDATE users SET disabled = 1 WHERE id = ?', user.id);
    expect((await signedOut().get(url(undone))).status).toBe(404);
    await srv.sql.run('UPDATE users SET disabled = 0 WHERE id = ?', user.id);
    expect((await signedOut().get(url(undone))).status).toBe(200);
    const page = await user.agent.get(`/c/${id}`);
    expect((await user.agent.post(`/c/${id}/undo`).type('form').send({ _csrf: csrfFrom(page.text) })).status).toBe(303);
    expect((await signedOut().get(url(undone))).status).toBe(404); // the snapshot's text stays; the image went with its question
    const named = (await signedOut().get(`/s/${undone}`)).text;
    expect(imageIds(named)).toEqual([]);
    expect(named).toMatch(/leaf\.png<\/span> <span class="muted small">image no longer available/);

    const kept = await share(user, await send(user, 'Again', [LEAF], id));
    const again = imageIds((await signedOut().get(`/s/${kept}`)).text)[0]!;
    expect((await form(user, `/c/${id}/delete`, { confirm: '1' })).status).toBe(303);
    expect((await signedOut().get(`/s/${kept}/files/${again}`)).status).toBe(404);
  });
});
