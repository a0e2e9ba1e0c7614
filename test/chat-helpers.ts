// What the chat tests share: users signed up through the page, the composer's fields, form
// POSTs as htmx and a browser send them, an SSE answer read as it arrives, and the database rows.
import http from 'node:http';
import { CookieAccessInfo } from 'cookiejar';
import { loadModels } from '../src/metering/models';
import { gate, type FakeUpstream, type Gate, type Scenario } from './fake-upstream';
import { csrfFrom, register, type Agent, type TestServer } from './helpers';

const MINI = loadModels().find('gpt-4o-mini')!;

// ---- users, forms and requests ----------------------------------------------------------------

export interface User {
  agent: Agent;
  id: number;
}

let seq = 0;
export async function newUser(srv: TestServer): Promise<User> {
  const agent = srv.agent();
  const name = `chatter${++seq}`;
  expect((await register(agent, name)).status).toBe(303);
  const id = (await srv.sql.value<number>('SELECT id FROM users WHERE username = ?', name))!;
  return { agent, id };
}

export type Fields = Record<string, string>;

export const hiddenValue = (html: string, id: string) => new RegExp(`id="${id}" name="[^"]+" value="([^"]*)"`).exec(html)?.[1];

/** The composer's fields as the page at `path` fills them in. */
export async function composer(user: User, path = '/', message = 'What is a token?'): Promise<Fields> {
  const page = await user.agent.get(path);
  expect(page.status).toBe(200);
  return {
    _csrf: csrfFrom(page.text), turn_key: hiddenValue(page.text, 'turn-key')!, conversation_id: hiddenValue(page.text, 'conversation-id')!,
    message, system: '', model: MINI.id, temperature: '', max_tokens: '',
  };
}

/**
 * A form POST as htmx sends it (answered with text/event-stream) or as a browser does without
 * JavaScript. Without JavaScript a turn's page comes back as its answer starts (a redirect to the
 * conversation, which reloads itself until the answer ends): this waits until it has ended, as
 * the reloading page would, unless `postAsItComes` is used.
 */
export async function post(user: User, path: string, fields: Fields, htmx = true) {
  const res = await postAsItComes(user, path, fields, htmx);
  if (!htmx && res.status === 303 && /^\/c\/\d+#m\d+$/.test(res.headers.location ?? '')) {
    const page = res.headers.location.replace(/#.*/, '');
    await until('the answer to end', async () => !(await user.agent.get(page)).text.includes('http-equiv="refresh"'));
  }
  return res;
}

/** A form POST answered as it comes: without JavaScript, a turn's redirect comes while its answer is written. */
export function postAsItComes(user: User, path: string, fields: Fields, htmx = true) {
  const req = user.agent.post(path).type('form');
  if (htmx) req.set('HX-Request', 'true').set('Accept', 'text/html, text/event-stream');
  return req.send(fields);
}

/** A send whose SSE body is read as it arrives, so a test can act mid-stream (Stop, close the tab). */
export function openStream(srv: TestServer, user: User, fields: Fields | undefined, path = '/send') {
  const url = new URL(path, srv.url);
  const jar = (user.agent as unknown as { jar: { getCookies(a: CookieAccessInfo): { toValueString(): string } } }).jar;
  const cookie = jar.getCookies(new CookieAccessInfo(url.hostname, '/', false)).toValueString();
  const body = fields ? new URLSearchParams(fields).toString() : '';
  const live = { text: '', status: 0, done: undefined as unknown as Promise<void>, destroy: () => req.destroy() };
  const req = http.request(url, {
    method: fields ? 'POST' : 'GET', // no fields: a GET, as a page following an answer sends
    headers: {
      ...(fields && { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) }), cookie,
      'hx-request': 'true', accept: 'text/html, text/event-stream',
    },
  });
  live.done = new Promise<void>((resolve) => {
    req.on('response', (res) => {
      live.status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (live.text += chunk));
      res.on('end', resolve);
      res.on('close', resolve);
    });
    req.on('error', () => resolve()); // the test destroyed it
  });
  req.end(body);
  return live;
}

/**
 * A turn whose answer the fake model holds after `gateAfter` pieces (1 unless given) until
 * `gate.release()`, so a test can act while it is being written (Stop, a second turn, a second
 * tab); resolves once the model has got there. `then`: what the model's next calls get.
 */
export async function heldAnswer(
  srv: TestServer,
  fake: FakeUpstream,
  user: User,
  answer: Omit<Extract<Scenario, { kind: 'stream' }>, 'kind' | 'gate'>,
  opts: { fields?: Fields; path?: string; then?: Scenario[] } = {},
): Promise<{ live: ReturnType<typeof openStream>; gate: Gate; fields: Fields }> {
  const held = gate();
  fake.script([{ kind: 'stream', gateAfter: 1, ...answer, gate: held }, ...(opts.then ?? [])]);
  const fields = opts.fields ?? (await composer(user));
  const live = openStream(srv, user, fields, opts.path);
  await held.reached;
  return { live, gate: held, fields };
}

export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (bounded) until `check` holds (it may read the database, so it may be async); the bound only keeps a broken test from hanging. */
export async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400 && !(await check()); i++) await pause(10);
  if (!(await check())) throw new Error(`gave up waiting for ${what}`);
}

export const conversationIdIn = (html: string) => Number(hiddenValue(html, 'conversation-id'));

// ---- what the database holds ---------------------------------------------------------------------

export function db(srv: TestServer) {
  const { sql } = srv;
  const all = (text: string, ...args: unknown[]) => sql.all(text, ...args);
  return {
    balance: async (user: User) => (await sql.value<number>('SELECT balance FROM balances WHERE user_id = ?', user.id)) ?? 0,
    holds: (user: User) => all('SELECT * FROM holds WHERE user_id = ? ORDER BY id', user.id),
    usage: (user: User) => all('SELECT * FROM usage WHERE user_id = ? ORDER BY id', user.id),
    ledger: (user: User) => all('SELECT kind, amount, balance_after FROM ledger WHERE user_id = ? ORDER BY id', user.id),
    conversations: (user: User) => all('SELECT * FROM conversations WHERE user_id = ? ORDER BY id', user.id),
    /** Every message stored, on every branch. */
    messages: (conversationId: number) => all('SELECT * FROM messages WHERE conversation_id = ? ORDER BY id', conversationId),
    /** The thread the conversation shows: from its leaf back through each message's parent. */
    thread: async (conversationId: number) => {
      const rows = await all('SELECT * FROM messages WHERE conversation_id = ? ORDER BY id', conversationId);
      const leaf = await sql.value<number>('SELECT leaf_id FROM conversations WHERE id = ?', conversationId);
      const byId = new Map(rows.map((m) => [Number(m.id), m]));
      const thread = [];
      for (let m = byId.get(Number(leaf)); m; m = m.parent_id === null ? undefined : byId.get(Number(m.parent_id))) thread.unshift(m);
      return thread;
    },
    messagesOfUser: (user: User) =>
      all('SELECT m.* FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.user_id = ? ORDER BY m.id', user.id),
  };
}
