// Files attached to a chat message: images for a model that reads them, documents for any model.
// What is checked is what a user sees (status, chips, thumbnails, notices), what the fake model API
// received, what the ledger charged, and what the database keeps, on SQLite and PostgreSQL alike.
import http from 'node:http';
import { loadModels, priceOf } from '../src/metering/models';
import { startFakeUpstream, DEFAULT_USAGE, type FakeUpstream } from './fake-upstream';
import { composer, db, newUser, post, type User } from './chat-helpers';
import { csrfFrom, startTestServer, type TestServer } from './helpers';
import { docx, PDF_BROKEN, PDF_SCAN, PDF_TEXT, PNG } from './attachments-helpers';

const MINI = loadModels().find('gpt-4o-mini')!;

let fake: FakeUpstream;
let srv: TestServer;
let q: ReturnType<typeof db>;
beforeAll(async () => {
  fake = await startFakeUpstream();
  srv = await startTestServer({
    OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, DEMO_DELAY_MS: '0', LOGIN_RATE_LIMIT_PER_IP: '10000', SIGNUP_BONUS: '500000',
  });
  q = db(srv);
});
afterAll(async () => {
  await srv.close();
  await fake.close();
});

type File = { name: string; data: Buffer; type?: string };

/** Attaches files as app.js does (htmx's header): the composer's chips come back. */
async function attach(user: User, files: File[], fields: Record<string, string> = {}) {
  const page = await user.agent.get('/');
  let req = user.agent.post('/attachments').set('HX-Request', 'true').field('_csrf', csrfFrom(page.text));
  for (const [k, v] of Object.entries(fields)) req = req.field(k, v);
  for (const f of files) req = req.attach('file', f.data, { filename: f.name, contentType: f.type ?? 'application/octet-stream' });
  return req;
}

const chipIds = (html: string) => [...html.matchAll(/name="attachment" value="(\d+)"/g)].map((m) => m[1]!);
const attachmentRows = (user: User) => srv.sql.all('SELECT id, message_id, kind, name, size, text, pages FROM attachments WHERE user_id = ? ORDER BY id', user.id);
const lastUserContent = () => {
  const body = fake.requests.at(-1)!.body as { messages: Array<{ role: string; content: unknown }> };
  return body.messages.filter((m) => m.role === 'user');
};

describe('images on the chat page', () => {
  test('POST /attachments, /estimate, /send — an image is priced by the model\'s own rule before sending, sent as a data URI, charged as reported, and re-sent with the history', async () => {
    const user = await newUser(srv);
    const up = await attach(user, [{ name: 'leaf.png', data: PNG, type: 'image/png' }]);
    expect(up.status).toBe(200);
    const [id] = chipIds(up.text);
    expect(up.text).toContain(`src="/attachments/${id}"`);
    const fields = { ...(await composer(user, '/', 'What is in this picture?')), attachment: id! };
    const estimate = await user.agent.post('/estimate').type('form').set('HX-Request', 'true').send(fields);
    const tokens = Number(/About ([\d,]+) prompt tokens/.exec(estimate.text)![1]!.replace(/,/g, ''));
    expect(tokens).toBeGreaterThan(MINI.imageTokens.high); // gpt-4o-mini's price of one image, from the models file

    const before = await q.balance(user);
    const res = await post(user, '/send', fields);
    expect(res.status).toBe(200);
    const [question] = lastUserContent();
    expect(question!.content).toEqual([
      { type: 'text', text: 'What is in this picture?' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG.toString('base64')}` } },
    ]);
    const [hold] = await q.holds(user);
    expect(hold.prompt_tokens).toBeGreaterThanOrEqual(tokens); // held with the image
    expect(before - (await q.balance(user))).toBe(priceOf(MINI, DEFAULT_USAGE.prompt_tokens, DEFAULT_USAGE.completion_tokens));
    const [row] = await attachmentRows(user);
    const conversationId = Number((await q.conversations(user))[0].id);
    const [asked] = await q.messages(conversationId);
    expect(Number(row.message_id)).toBe(Number(asked.id));

    // The transcript shows the thumbnail; the image is its owner's only.
    const page = await user.agent.get(`/c/${conversationId}`);
    expect(page.text).toContain(`<img src="/attachments/${id}"`);
    const image = await user.agent.get(`/attachments/${id}`).buffer(true);
    expect(image.status).toBe(200);
    expect(image.headers['content-type']).toBe('image/png');
    expect(image.headers['cache-control']).toBe('no-store'); // a shared computer keeps no copy
    expect(image.headers['x-content-type-options']).toBe('nosniff');
    expect(Buffer.compare(image.body as Buffer, PNG)).toBe(0);
    const other = await newUser(srv);
    expect((await other.agent.get(`/attachments/${id}`)).status).toBe(404);

    // The next turn sends the image again, with its question, and counts it again.
    await post(user, '/send', await composer(user, `/c/${conversationId}`, 'And the colour?'));
    const again = lastUserContent();
    expect(again).toHaveLength(2);
    expect(JSON.stringify(again[0]!.content)).toContain(PNG.toString('base64'));
    const holds = await q.holds(user);
    expect(holds[1].prompt_tokens).toBeGreaterThan(MINI.imageTokens.high);

    // Deleting the conversation deletes its files.
    const del = await user.agent.post(`/c/${conversationId}/delete`).type('form').send({ _csrf: csrfFrom(page.text), confirm: '1' });
    expect(del.status).toBe(303);
    expect(await attachmentRows(user)).toEqual([]);
  });

  test('POST /send — an image to a model without vision is refused before any hold, the file kept for another model', async () => {
    const user = await newUser(srv);
    const [id] = chipIds((await attach(user, [{ name: 'leaf.png', data: PNG }])).text);
    const calls = fake.requests.length;
    const res = await post(user, '/send', { ...(await composer(user)), model: 'gpt-3.5-turbo', attachment: id! });
    expect(res.status).toBe(422);
    expect(res.text).toContain('GPT-3.5 Turbo cannot read images');
    expect(await q.holds(user)).toEqual([]);
    expect(fake.requests.length).toBe(calls);
    expect((await attachmentRows(user))[0].message_id).toBeNull();
  });

  test('POST /send — another user\'s attachment id is a 404: nothing stored, nothing charged, no model call', async () => {
    const owner = await newUser(srv);
    const [id] = chipIds((await attach(owner, [{ name: 'leaf.png', data: PNG }])).text);
    const thief = await newUser(srv);
    const before = await q.balance(thief);
    const calls = fake.requests.length;
    const res = await post(thief, '/send', { ...(await composer(thief)), attachment: id! }, false);
    expect(res.status).toBe(404);
    expect(res.text).toContain('no longer available');
    expect(await q.conversations(thief)).toEqual([]);
    expect(await q.holds(thief)).toEqual([]);
    expect(await q.balance(thief)).toBe(before);
    expect(fake.requests.length).toBe(calls);
    expect((await attachmentRows(owner))[0].message_id).toBeNull();
  });

  test('POST /attachments — a "PNG" that is not one, too many files, and no JavaScript (the page again, with the draft and chips)', async () => {
    const user = await newUser(srv);
    const fakePng = await attach(user, [{ name: 'cat.png', data: Buffer.from('GIF? no, just text'), type: 'image/png' }]);
    expect(fakePng.status).toBe(422);
    expect(fakePng.text).toContain('cat.png is not a PNG, JPEG, WebP or GIF image');
    const five = Array.from({ length: 5 }, (_, i) => ({ name: `p${i}.png`, data: PNG }));
    const many = await attach(user, five);
    expect(chipIds(many.text)).toHaveLength(4);
    expect(many.text).toContain('at most 4 files');
    const page = await user.agent.get('/');
    const plain = await user.agent.post('/attachments').field('_csrf', csrfFrom(page.text)).field('message', 'my draft')
      .attach('file', Buffer.from('print("hi")\n'), { filename: 'hello.py', contentType: 'text/x-python' });
    expect(plain.status).toBe(200);
    expect(plain.text).toContain('<textarea id="message"');
    expect(plain.text).toContain('my draft</textarea>');
    expect(plain.text).toContain('hello.py');
    expect(plain.text).toMatch(/GIF images \(for GPT-4o mini, GPT-4\.1 mini, GPT-4o\)/); // which models read images
    expect(await attachmentRows(user)).toHaveLength(5);
  });

  test('POST /attachments — a user with five messages\' worth of files attached and not sent is refused more, and nothing more is stored', async () => {
    const user = await newUser(srv);
    const four = Array.from({ length: 4 }, (_, i) => ({ name: `p${i}.png`, data: PNG }));
    for (let i = 0; i < 5; i++) expect((await attach(user, four)).status).toBe(200);
    const more = await attach(user, [{ name: 'one-more.png', data: PNG }]);
    expect(more.status).toBe(422);
    expect(more.text).toContain('many files attached and not sent');
    expect(await attachmentRows(user)).toHaveLength(20);
  });

  test('POST /attachments — a 1 GB upload is refused 413 by its declared size, unread, and nothing is stored', async () => {
    const user = await newUser(srv);
    const page = await user.agent.get('/');
    const url = new URL('/attachments', srv.url);
    const jar = (user.agent as unknown as { jar: { getCookies(a: unknown): { toValueString(): string } } }).jar;
    const { CookieAccessInfo } = await import('cookiejar');
    const cookie = jar.getCookies(new CookieAccessInfo(url.hostname, '/', false)).toValueString();
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(url, {
        method: 'POST',
        headers: { cookie, 'content-type': 'multipart/form-data; boundary=x', 'content-length': String(1024 ** 3), 'x-csrf-token': csrfFrom(page.text) },
      });
      req.on('response', (res) => {
        resolve(res.statusCode ?? 0);
        res.resume();
        req.destroy();
      });
      req.on('error', reject);
      req.write('--x\r\n'); // a first few bytes; the rest never comes
    });
    expect(status).toBe(413);
    expect(await attachmentRows(user)).toEqual([]);
  });
});

describe('documents on the chat page', () => {
  test('POST /send — a PDF, a DOCX and a code file go into the prompt in blocks named by file, stored for the next turn, chips in the transcript', async () => {
    const user = await newUser(srv);
    const up = await attach(user, [
      { name: 'notes.pdf', data: PDF_TEXT, type: 'application/pdf' },
      { name: 'essay.docx', data: docx('Cells divide by mitosis') },
      { name: 'main.py', data: Buffer.from('print("hello")\n') },
    ]);
    expect(up.status).toBe(200);
    const ids = chipIds(up.text);
    expect(ids).toHaveLength(3);
    const fields = { ...(await composer(user, '/', 'Summarise these.')), model: 'gpt-3.5-turbo' };
    const body = new URLSearchParams(fields);
    for (const id of ids) body.append('attachment', id);
    const res = await user.agent.post('/send').type('form').set('HX-Request', 'true').set('Accept', 'text/html, text/event-stream').send(body.toString());
    expect(res.status).toBe(200);
    const [question] = lastUserContent();
    const text = question!.content as string;
    expect(text).toContain('<file name="notes.pdf">\nPhotosynthesis makes sugar\n</file>');
    expect(text).toContain('<file name="essay.docx">\nCells divide by mitosis\n</file>');
    expect(text).toContain('<file name="main.py">\nprint("hello")\n</file>');
    expect(text.endsWith('Summarise these.')).toBe(true);
    const rows = await attachmentRows(user);
    expect(rows.map((r) => [r.kind, r.pages])).toEqual([['document', 1], ['document', null], ['document', null]]);
    const conversationId = Number((await q.conversations(user))[0].id);
    const page = await user.agent.get(`/c/${conversationId}`);
    expect(page.text).toContain('notes.pdf');
    await post(user, '/send', { ...(await composer(user, `/c/${conversationId}`, 'More?')), model: 'gpt-3.5-turbo' });
    expect(lastUserContent()[0]!.content).toContain('Photosynthesis makes sugar'); // from the database, not extracted again
  });

  test('POST /attachments — a scanned PDF, a malformed PDF and a zip bomb DOCX are each refused with a clear 422, nothing stored', async () => {
    const user = await newUser(srv);
    const scan = await attach(user, [{ name: 'scan.pdf', data: PDF_SCAN }]);
    expect(scan.status).toBe(422);
    expect(scan.text).toContain('looks like a scan');
    const broken = await attach(user, [{ name: 'broken.pdf', data: PDF_BROKEN }]);
    expect(broken.status).toBe(422);
    expect(broken.text).toContain('broken.pdf could not be read');
    const bomb = await attach(user, [{ name: 'bomb.docx', data: docx('boom', 0x7fff_fff0) }]);
    expect(bomb.status).toBe(422);
    expect(bomb.text).toContain('bomb.docx could not be read');
    expect(await attachmentRows(user)).toEqual([]);
  });

  test('POST /edit — a new version of a question keeps its files: the model reads them again, each version has its own copy', async () => {
    const user = await newUser(srv);
    const [id] = chipIds((await attach(user, [{ name: 'plan.md', data: Buffer.from('# Plan\nWater the plants.') }])).text);
    await post(user, '/send', { ...(await composer(user, '/', 'What is the plan?')), model: 'gpt-3.5-turbo', attachment: id! });
    const conversationId = Number((await q.conversations(user))[0].id);
    const page = (await user.agent.get(`/c/${conversationId}`)).text;
    const [question] = await q.messages(conversationId);
    const form = /<form method="post" action="\/edit"[^>]*>([\s\S]*?)<\/form>/.exec(page)![1]!;
    const fields = Object.fromEntries([...form.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    expect(Number(fields.message_id)).toBe(Number(question.id));
    const res = await post(user, '/edit', { ...fields, message: 'What is the plan, in one word?' });
    expect(res.status).toBe(200);
    expect(lastUserContent()[0]!.content).toBe('<file name="plan.md">\n# Plan\nWater the plants.\n</file>\n\nWhat is the plan, in one word?');
    const rows = await attachmentRows(user);
    expect(rows.map((r) => r.name)).toEqual(['plan.md', 'plan.md']);
    expect(new Set(rows.map((r) => Number(r.message_id))).size).toBe(2);
  });

  test('POST /send — a document the model\'s context cannot take, or the balance cannot pay for, is refused before any hold: nothing charged, the file kept', async () => {
    const user = await newUser(srv);
    const long = Buffer.from('the cat sat on the mat and looked at the moon '.repeat(8000)); // about 368,000 characters, ~90,000 tokens
    const [id] = chipIds((await attach(user, [{ name: 'story.txt', data: long }])).text);
    const calls = fake.requests.length;
    const before = await q.balance(user);
    const small = await post(user, '/send', { ...(await composer(user, '/', 'Summarise.')), model: 'gpt-3.5-turbo', attachment: id! });
    expect(small.status).toBe(422);
    expect(small.text).toContain('too long for the model');
    const costly = await post(user, '/send', { ...(await composer(user, '/', 'Summarise.')), model: 'gpt-4o', attachment: id! }, false);
    expect(costly.status).toBe(402);
    expect(costly.text).toContain('Not enough tokens');
    expect(costly.text).toContain(`name="attachment" value="${id}"`); // the page again, the file still attached
    expect(fake.requests.length).toBe(calls);
    expect(await q.holds(user)).toEqual([]);
    expect(await q.balance(user)).toBe(before);
    expect((await attachmentRows(user))[0].message_id).toBeNull();
  });

  test('POST /send with files and no text: the files are the question, the chat is named after them; Undo takes them away with it', async () => {
    const user = await newUser(srv);
    const [id] = chipIds((await attach(user, [{ name: 'data.csv', data: Buffer.from('a,b\n1,2\n') }])).text);
    const res = await post(user, '/send', { ...(await composer(user, '/', '')), model: 'gpt-3.5-turbo', attachment: id! });
    expect(res.status).toBe(200);
    expect(lastUserContent()[0]!.content).toBe('<file name="data.csv">\na,b\n1,2\n</file>');
    const [conversation] = await q.conversations(user);
    expect(conversation.title).toBe('data.csv');
    const page = await user.agent.get(`/c/${conversation.id}`);
    const undo = await user.agent.post(`/c/${conversation.id}/undo`).type('form').send({ _csrf: csrfFrom(page.text) });
    expect(undo.status).toBe(303);
    expect(await attachmentRows(user)).toEqual([]);
  });
});
