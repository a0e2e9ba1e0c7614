// The chat page end to end: a real server, the real openai SDK path, and a scripted fake model
// API. Each test signs up a new user and asserts on what that user sees (status, page, SSE body)
// and on what the database holds (balance, ledger, holds, messages).
import { grant, recoverHolds } from '../src/ledger/ledger';
import { liveHolds } from '../src/chat/turn';
import { affordableCompletion, loadModels, priceOf } from '../src/metering/models';
import { setSpendLimits } from '../src/ledger/spend-limits';
import { countTextSync } from '../src/metering/tokens';
import * as tokensText from '../src/metering/tokens-text';
import { startFakeUpstream, DEFAULT_PIECES, type FakeUpstream } from './fake-upstream';
import { composer, conversationIdIn, db, heldAnswer, newUser, openStream, pause, post, until, type Fields, type User } from './chat-helpers';
import { csrfFrom, startTestServer, type TestServer } from './helpers';

const catalog = loadModels();
const MINI = catalog.find('gpt-4o-mini')!;
const DEFAULT_ANSWER = DEFAULT_PIECES.join('');

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.close());

const serverEnv = (extra: Record<string, string> = {}) => ({
  OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, DEMO_DELAY_MS: '0', LOGIN_RATE_LIMIT_PER_IP: '10000', ...extra,
});

const tokens = (text: string) => countTextSync(text, MINI.encoding);

// ---- the tests -------------------------------------------------------------------------------------

describe('chat turns against the model API', () => {
  let srv: TestServer;
  let q: ReturnType<typeof db>;
  beforeAll(async () => {
    srv = await startTestServer(serverEnv({ SIGNUP_BONUS: '2000' }));
    q = db(srv);
  });
  afterAll(() => srv.close());

  /**
   * An answer held after 'One two' of 'One two three four', for a test to stop; `stopped()` checks
   * it ended there: the model call closed, the hold settled at the prompt and those two pieces,
   * the balance charged that, no more of the answer shown. It answers the hold and the charge.
   */
  async function answerToStop(user: User) {
    const before = await q.balance(user);
    const { live, gate: g, fields } = await heldAnswer(srv, fake, user, { pieces: ['One', ' two', ' three', ' four'], gateAfter: 2 });
    await until('the second piece', () => live.text.includes('> two</hx-partial>'));
    const stopped = async () => {
      expect(await fake.requests.at(-1)!.closed).toBe(true);
      g.release();
      const [hold] = await q.holds(user);
      const charge = priceOf(MINI, hold.prompt_tokens, tokens('One two'));
      expect(hold).toMatchObject({ state: 'settled', completion_tokens: tokens('One two'), charge, outcome: 'stopped' });
      expect(before - (await q.balance(user))).toBe(charge);
      expect(live.text).not.toContain('three');
      return { hold, charge };
    };
    return { live, fields, stopped };
  }

  test('POST /send (htmx) — a streamed turn debits exactly the reported usage and shows it', async () => {
    const user = await newUser(srv);
    const before = await q.balance(user);
    fake.script({ kind: 'stream', pieces: ['Fish', ' & chips', ' <b>hot</b>'], usage: { prompt_tokens: 30, completion_tokens: 5 } });
    const fields = { ...(await composer(user)), message: 'Lunch ideas?', system: 'Be brief.' };

    const res = await post(user, '/send', fields);

    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const after = await q.balance(user);
    const charge = priceOf(MINI, 30, 5);
    expect(before - after).toBe(charge);
    // The pieces arrive escaped; nothing the model wrote becomes markup.
    expect(res.text).toContain('>Fish</hx-partial>');
    expect(res.text).toContain('> &#38; chips</hx-partial>');
    expect(res.text).toContain('&#60;b&#62;hot&#60;/b&#62;');
    expect(res.text).not.toContain('<b>hot');
    expect(res.text).toContain(`charged ${charge}`);
    expect(res.text).toContain('reported by the provider');
    expect(res.text).toMatch(new RegExp(`hx-target="#balance" hx-swap="innerHTML">Balance: ${after.toLocaleString('en')}(?![\\d,])`));
    // One reserve and one settle; the usage record is the provider's.
    expect((await q.ledger(user)).map((r) => r.kind)).toEqual(['signup_bonus', 'reserve', 'settle']);
    const [hold] = await q.holds(user);
    expect(await q.usage(user)).toEqual([expect.objectContaining({ prompt_tokens: 30, completion_tokens: 5, charge, source: 'reported', outcome: 'ok' })]);
    // The model was asked for no more than the balance pays for, with the system prompt and the question.
    const { body } = fake.requests.at(-1)!;
    expect(body.max_tokens).toBe(Math.min(2048, affordableCompletion(MINI, hold.prompt_tokens, before)));
    expect(hold.max_completion).toBe(body.max_tokens);
    expect(body.messages).toEqual([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Lunch ideas?' }]);
    const [question, answer] = await q.messagesOfUser(user);
    expect(question).toMatchObject({ role: 'user', content: 'Lunch ideas?' });
    expect(answer).toMatchObject({ role: 'assistant', content: 'Fish & chips <b>hot</b>', status: 'done', charge, source: 'reported', cut_short: null });
    // The usage page names the conversation by its title.
    const [conversation] = await q.conversations(user);
    expect((await user.agent.get('/usage')).text).toContain(`<a href="/c/${conversation.id}">Lunch ideas?</a>`);
  });

  test('POST /stop — stopping mid-stream charges the prompt and what was delivered, and closes the upstream call', async () => {
    const user = await newUser(srv);
    const { live, fields, stopped } = await answerToStop(user);
    const conversationId = conversationIdIn(live.text);

    const stop = await post(user, '/stop', { _csrf: fields._csrf, conversation_id: String(conversationId) });
    expect(stop.status).toBe(204);
    await live.done;

    const { hold, charge } = await stopped();
    expect(hold).toMatchObject({ source: 'estimated' });
    expect(hold.used_prompt_tokens).toBe(hold.prompt_tokens);
    expect((await q.messages(conversationId))[1]).toMatchObject({ content: 'One two', status: 'stopped', charge, source: 'estimated' });
    expect(live.text).toContain('Stopped.');
    expect(live.text).toContain(`charged ${charge}`);
  });

  test('disabling a user mid-stream ends the turn there, charged like Stop', async () => {
    const admin = await newUser(srv);
    await srv.sql.run(`UPDATE users SET role = 'admin' WHERE id = ?`, admin.id);
    const user = await newUser(srv);
    const { live, stopped } = await answerToStop(user);

    const _csrf = csrfFrom((await admin.agent.get(`/admin/users/${user.id}`)).text);
    expect((await admin.agent.post(`/admin/users/${user.id}/disable`).type('form').send({ _csrf, confirm: '1' })).status).toBe(303);
    await live.done;

    await stopped();
    expect((await user.agent.get('/')).status).toBe(303); // signed out at the next request
  });

  test('POST /send — spend limits shrink the answer to fit, then refuse the turn saying which, without calling the model API', async () => {
    const user = await newUser(srv);
    await srv.database.write(setSpendLimits, user.id, { perMessage: null, perDay: 200 });
    fake.script({ kind: 'stream', pieces: ['Short', ' and', ' then'], finishReason: 'length' }); // the model stopped at max_tokens
    const first = await post(user, '/send', await composer(user));
    expect(first.status).toBe(200);
    const [hold] = await q.holds(user);
    const allowed = affordableCompletion(MINI, hold.prompt_tokens, 200);
    expect(allowed).toBeGreaterThan(0);
    expect(allowed).toBeLessThan(100);
    expect(fake.requests.at(-1)!.body.max_tokens).toBe(allowed);
    expect(hold.max_completion).toBe(allowed);
    // The answer says why it ends mid-sentence.
    expect((await q.messagesOfUser(user))[1]).toMatchObject({ status: 'done', cut_short: allowed });
    expect(first.text).toContain(`Cut short at ${allowed} tokens: that is as much of an answer as your balance or spend limit paid for.`);

    const calls = fake.requests.length;
    const limit = hold.charge + 5; // less than any prompt
    await srv.database.write(setSpendLimits, user.id, { perMessage: null, perDay: limit });
    const refusedTurn = await post(user, '/send', await composer(user, '/', 'And another thing?'));
    expect(refusedTurn.status).toBe(422);
    expect(refusedTurn.text).toMatch(new RegExp(`You have spent ${hold.charge} of your daily limit of ${limit} tokens; this message could cost up to \\d+ more`));
    expect(fake.requests.length).toBe(calls);
    expect(await q.holds(user)).toHaveLength(1);
  });

  test('a second tab (or a reload) follows an answer being written elsewhere, live, to its end', async () => {
    const user = await newUser(srv);
    const stranger = await newUser(srv);
    const { live, gate: g } = await heldAnswer(srv, fake, user, { pieces: ['Followed', ' answer'] });
    await until('the turn to start', () => live.text.includes('id="conversation-id"'));
    const id = conversationIdIn(live.text);
    const [question, answer] = await q.messages(id);
    const follow = `hx-get="/c/${id}/m/${answer.id}/live" hx-trigger="load"`;
    expect(live.text).not.toContain(follow); // the streaming tab gets the text as it comes

    const page = await user.agent.get(`/c/${id}`);
    expect(page.text).toContain(follow);
    // The sidebar marks the conversation as answering while it is, on any page that shows it.
    expect(page.text).toMatch(new RegExp(`href="/c/${id}"[^>]*>[^<]*<span class="answering">· answering…</span>`));
    // The text so far is kept on the message, so a page opened meanwhile shows it, not an empty bubble.
    await until('the text so far kept', async () => (await q.messages(id)).find((m) => m.role === 'assistant')!.content === 'Followed');
    expect((await user.agent.get(`/c/${id}`)).text).toMatch(/id="m\d+-text" aria-busy="true">(<p>)?Followed/);

    // Following it: the text so far at once, then each piece, then the finished message in its place.
    const second = openStream(srv, user, undefined, `/c/${id}/m/${answer.id}/live`);
    await until('the text so far', () => second.text.includes(`<hx-partial hx-target="#m${answer.id}-text" hx-swap="innerHTML"><p>Followed<span id="m${answer.id}-tail"></span></p>`));
    for (const path of [`/c/${id}/m/${answer.id}/live`, `/c/${id}/m/${question.id}/live`, `/c/${id}/m/999999/live`]) {
      expect((await (path.includes(String(answer.id)) ? stranger : user).agent.get(path)).status).toBe(404);
    }
    // Five pages may follow one answer at once: a sixth is refused until one of them closes.
    const more = Array.from({ length: 4 }, () => openStream(srv, user, undefined, `/c/${id}/m/${answer.id}/live`));
    await until('five following', () => more.every((f) => f.status === 200));
    expect((await user.agent.get(`/c/${id}/m/${answer.id}/live`)).status).toBe(429);
    for (const f of more) f.destroy();
    await until('a follow freed', async () => {
      const res = openStream(srv, user, undefined, `/c/${id}/m/${answer.id}/live`);
      await until('an answer', () => res.status !== 0);
      res.destroy();
      return res.status === 200;
    });
    g.release();
    await Promise.all([live.done, second.done]);
    expect(second.text).toContain(' answer');
    expect(second.text).toMatch(new RegExp(`<hx-partial hx-target="#m${answer.id}" hx-swap="outerHTML"><article[^]*Followed answer[^]*charged \\d+`));
    // Both pages' sidebars lose the conversation's answering mark at the end: its entry alone is
    // sent again, not the whole list (which the turn's page got once, as the answer started).
    const entry = `<hx-partial hx-target="#conversation-${id}" hx-swap="outerHTML"><li id="conversation-${id}"><a href="/c/${id}" aria-current="page">`;
    for (const stream of [live.text, second.text]) {
      const end = stream.slice(stream.indexOf(`hx-target="#m${answer.id}" hx-swap="outerHTML"`));
      expect(end).toContain(entry);
      expect(end.slice(end.indexOf(entry)).split('</hx-partial>')[0]).not.toContain('answering');
      expect(end).not.toContain('id="conversation-list"');
    }
    // As it started, the turn's page was sent that entry too (marked answering, moved to the top
    // of the list), and never the whole list: the rest of the sidebar is the page's own.
    const started = live.text.slice(0, live.text.indexOf('tokenchat:turn-started'));
    expect(started).toContain(`<hx-partial hx-target="#conversation-${id}" hx-swap="delete"></hx-partial>`);
    expect(started).toMatch(new RegExp(`<hx-partial hx-target="#conversation-list" hx-swap="afterbegin"><li id="conversation-${id}"><a href="/c/${id}" aria-current="page">[^<]*<span class="answering">`));
    expect(live.text).not.toContain('id="conversation-list"');
    const after = await user.agent.get(`/c/${id}/m/${answer.id}/live`);
    expect(after.text).toContain('Followed answer'); // a finished answer: the message, and the stream ends
    expect((await user.agent.get(`/c/${id}`)).text).not.toContain('class="answering"');

    // An answer written by another process is followed from the database, once a second.
    await srv.sql.run("UPDATE messages SET status = 'streaming', content = 'Elsewhere' WHERE id = ?", answer.id);
    const third = openStream(srv, user, undefined, `/c/${id}/m/${answer.id}/live`);
    await until('the text so far', () => third.text.includes('<p>Elsewhere<span id='));
    await srv.sql.run("UPDATE messages SET content = 'Elsewhere, more' WHERE id = ?", answer.id);
    await until('the text read again', () => third.text.includes('<p>Elsewhere, more<span id='));
    await srv.sql.run("UPDATE messages SET status = 'done', content = 'Elsewhere, done' WHERE id = ?", answer.id);
    await third.done;
    expect(third.text).toMatch(new RegExp(`<hx-partial hx-target="#m${answer.id}" hx-swap="outerHTML"><article[^]*Elsewhere, done`));
  });

  test('POST /send — closing the tab mid-stream does not stop the answer: it is finished, stored and charged once', async () => {
    const user = await newUser(srv);
    const before = await q.balance(user);
    const { live, gate: g } = await heldAnswer(srv, fake, user, { pieces: ['Alpha', ' beta', ' gamma'], usage: { prompt_tokens: 12, completion_tokens: 3 } });
    await until('the first piece', () => live.text.includes('>Alpha</hx-partial>'));

    live.destroy();
    await pause(100); // the server has seen the tab go
    expect((await q.holds(user))[0].state).toBe('held'); // still answering
    g.release();
    await until('the answer to be stored', async () => (await q.messagesOfUser(user))[1]?.status === 'done');

    expect(await fake.requests.at(-1)!.closed).toBe(false); // read to its end
    const [hold] = await q.holds(user);
    const charge = priceOf(MINI, 12, 3);
    expect(hold).toMatchObject({ state: 'settled', completion_tokens: 3, charge, source: 'reported', outcome: 'ok' });
    expect(before - (await q.balance(user))).toBe(charge);
    expect((await q.messagesOfUser(user))[1]).toMatchObject({ content: 'Alpha beta gamma', status: 'done', charge });
    // A reload shows the whole answer.
    const [conversation] = await q.conversations(user);
    expect((await user.agent.get(`/c/${conversation.id}`)).text).toContain('Alpha beta gamma');
  });

  test('POST /send — an upstream 500 before any output charges nothing and says so plainly', async () => {
    const user = await newUser(srv);
    const before = await q.balance(user);
    fake.script({ kind: 'error', status: 500, message: 'internal kaboom' });

    const res = await post(user, '/send', await composer(user));

    expect(res.status).toBe(200);
    expect(res.text).toContain('The model API failed. Retry in a moment.');
    expect(res.text).not.toMatch(/kaboom|Error:|\bat \S+ \(/);
    expect(await q.balance(user)).toBe(before);
    expect(await q.holds(user)).toEqual([expect.objectContaining({ state: 'released', charge: 0 })]);
    expect((await q.ledger(user)).map((r) => r.kind)).toEqual(['signup_bonus', 'reserve', 'release']);
    expect((await q.messagesOfUser(user))[1]).toMatchObject({ content: '', status: 'error', error: 'server', charge: 0 });
  });

  test('POST /send — a stream without usage is charged by the local count', async () => {
    const user = await newUser(srv);
    const before = await q.balance(user);
    fake.script({ kind: 'stream', pieces: ['Counted', ' here', ' locally.'], usage: false });

    const res = await post(user, '/send', await composer(user));

    expect(res.status).toBe(200);
    const [hold] = await q.holds(user);
    const completion = tokens('Counted here locally.');
    const charge = priceOf(MINI, hold.prompt_tokens, completion);
    expect(await q.usage(user)).toEqual([expect.objectContaining({ prompt_tokens: hold.prompt_tokens, completion_tokens: completion, charge, source: 'estimated', outcome: 'ok' })]);
    expect(before - (await q.balance(user))).toBe(charge);
    expect(res.text).toContain('counted locally');
  });

  test('POST /send — a connection dropped mid-stream keeps and charges what arrived', async () => {
    const user = await newUser(srv);
    const before = await q.balance(user);
    fake.script({ kind: 'stream', pieces: ['Kept', ' part', ' lost'], dropAfter: 2 });

    const res = await post(user, '/send', await composer(user));

    const [hold] = await q.holds(user);
    const charge = priceOf(MINI, hold.prompt_tokens, tokens('Kept part'));
    expect(hold).toMatchObject({ state: 'settled', charge, source: 'estimated', outcome: 'error' });
    expect(before - (await q.balance(user))).toBe(charge);
    expect((await q.messagesOfUser(user))[1]).toMatchObject({ content: 'Kept part', status: 'error', error: 'connection', charge });
    expect(res.text).toContain('The connection to the model dropped. What arrived is kept and charged');
  });

  test('POST /send — 401 and 429 from the model API give clear messages and cost nothing', async () => {
    const user = await newUser(srv);
    const before = await q.balance(user);
    fake.script([
      { kind: 'error', status: 401, code: 'invalid_api_key', message: 'Incorrect API key provided: sk-test' },
      { kind: 'error', status: 429, code: 'rate_limit_exceeded', headers: { 'retry-after': '7' } },
    ]);

    const unauthorised = await post(user, '/send', await composer(user));
    const limited = await post(user, '/send', await composer(user));

    expect(unauthorised.text).toContain('The model API refused the server&#39;s key. Tell an administrator; nothing was charged.');
    expect(unauthorised.text).not.toContain('sk-test');
    expect(limited.text).toContain('Retry in 7 seconds.');
    expect(await q.balance(user)).toBe(before);
    expect((await q.holds(user)).map((h) => h.state)).toEqual(['released', 'released']);
  });

  test('POST /send — a double submit with the same turn key is charged once', async () => {
    const user = await newUser(srv);
    const before = await q.balance(user);
    const fields = await composer(user);
    const calls = fake.requests.length;

    const first = await post(user, '/send', fields);
    const again = await post(user, '/send', { ...fields, conversation_id: String(conversationIdIn(first.text)) });

    expect(again.status).toBe(200);
    expect(again.text).toContain('That message was already sent; it was not charged again.');
    expect((await q.ledger(user)).filter((r) => r.kind === 'reserve')).toHaveLength(1);
    expect(await q.usage(user)).toHaveLength(1);
    expect(before - (await q.balance(user))).toBe((await q.usage(user))[0].charge);
    expect((await q.messagesOfUser(user)).map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(fake.requests.length).toBe(calls + 1);
  });

  test('POST /send — a double-clicked first message makes one conversation, and the repeat shows its answer', async () => {
    const user = await newUser(srv);
    const fields = { ...(await composer(user)), message: 'Clicked twice' }; // a new chat: conversation_id is empty

    await post(user, '/send', fields, false);
    const again = await post(user, '/send', fields, false);

    expect(await q.usage(user)).toHaveLength(1);
    expect(await q.conversations(user)).toHaveLength(1);
    expect(again.text).toContain(DEFAULT_ANSWER);
  });

  test("another user's conversation does not exist: 404 everywhere and nothing changes", async () => {
    const owner = await newUser(srv);
    const other = await newUser(srv);
    const first = await post(owner, '/send', { ...(await composer(owner)), message: 'Private question' });
    const id = conversationIdIn(first.text);
    const snapshot = async () => ({
      conversations: await q.conversations(owner), messages: await q.messages(id), ownerHolds: await q.holds(owner),
      otherBalance: await q.balance(other), otherHolds: await q.holds(other), otherConversations: await q.conversations(other), calls: fake.requests.length,
    });
    const before = await snapshot();
    const fields = { ...(await composer(other)), conversation_id: String(id) };

    expect((await other.agent.get(`/c/${id}`)).status).toBe(404);
    for (const path of ['/send', '/retry', '/edit', '/stop', '/undo', '/clear']) expect((await post(other, path, fields)).status).toBe(404);
    for (const action of ['undo', 'clear', 'delete']) expect((await post(other, `/c/${id}/${action}`, fields, false)).status).toBe(404);
    expect((await post(other, `/c/${id}/rename`, { ...fields, title: 'Mine now' }, false)).status).toBe(404);
    const page = await other.agent.get(`/c/${id}`);
    expect(page.text).not.toContain('Private question');

    expect(await snapshot()).toEqual(before);
  });

  test('script and htmx attributes in user text and model output come out inert', async () => {
    const user = await newUser(srv);
    const payload = ['<script>alert(1)</script>', ' <img src=x onerror=alert(1)>', ' <div hx-get="/admin" hx-trigger="load">x</div>'];
    fake.script({ kind: 'stream', pieces: payload });
    const res = await post(user, '/send', { ...(await composer(user)), message: payload.join('') });
    const page = await user.agent.get(`/c/${conversationIdIn(res.text)}`);

    // Tags that carry the payload's onerror or hx-get="/admin" as a real attribute. Quoted values
    // are blanked first, so escaped text inside one (the title field holds the message) does not count.
    const active = (html: string) =>
      (html.match(/<[^>]*>/g) ?? []).filter((tag) => {
        const attributes = tag.replace(/="[^"]*"/g, (v) => (v === '="/admin"' ? v : '=""'));
        return /\sonerror=/i.test(attributes) || /\shx-get="\/admin"/i.test(attributes) || /\shx-get=\/admin/i.test(attributes);
      });
    for (const html of [res.text, page.text]) {
      expect(html).not.toMatch(/<script>alert/i);
      expect(active(html)).toEqual([]);
      expect(html).not.toMatch(/<(img|div)[^>]*(onerror|hx-get="\/admin")/i);
    }
    // The user's own message is shown as text, escaped.
    expect(res.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page.status).toBe(200);
    expect((await q.messagesOfUser(user)).map((m) => m.content)).toEqual([payload.join(''), payload.join('')]);
  });

  test('POST /send without JavaScript — lands on the answer in its conversation, with the conversation in the sidebar', async () => {
    const user = await newUser(srv);
    const before = await q.balance(user);
    const fields = { ...(await composer(user)), message: 'Plain form please' };

    const sent = await post(user, '/send', fields, false);
    const [made] = await q.conversations(user);
    const answer = (await q.messages(made.id)).find((m) => m.role === 'assistant')!;
    expect(sent.status).toBe(303);
    expect(sent.headers.location).toBe(`/c/${made.id}#m${answer.id}`);
    const res = await user.agent.get(`/c/${made.id}`);

    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toMatch(/^<!doctype html>/i);
    expect(res.text).toContain(DEFAULT_ANSWER);
    const [conversation] = await q.conversations(user);
    expect(res.text).toMatch(new RegExp(`<a href="/c/${conversation.id}" aria-current="page">Plain form please</a>`));
    const after = await q.balance(user);
    expect(after).toBeLessThan(before);
    expect(before - after).toBe((await q.usage(user))[0].charge);
    expect(res.text).toContain(`Balance: ${after.toLocaleString('en')}`);
  });

  test('Retry, Edit, Undo and Clear on a new chat say there is nothing to change, and change nothing', async () => {
    const user = await newUser(srv);
    const fields = await composer(user); // a new chat: conversation_id is empty
    const calls = fake.requests.length;
    for (const path of ['/retry', '/edit']) {
      const res = await post(user, path, fields);
      expect(res.status).toBe(422);
      expect(res.text).toContain('There is no message to answer again yet.');
      expect(res.text).not.toContain('Page not found');
    }
    for (const path of ['/undo', '/clear']) {
      const res = await post(user, path, { _csrf: fields._csrf, conversation_id: '' });
      expect(res.status).toBe(200);
      expect(res.text).toContain('id="empty"');
    }
    const plain = await post(user, '/retry', fields, false);
    expect(plain.status).toBe(422);
    expect(plain.text).toContain('There is no message to answer again yet.');
    expect(plain.text).toContain(fields.message); // the draft is kept
    expect(await q.conversations(user)).toEqual([]);
    expect(fake.requests.length).toBe(calls);
  });

  test('POST /send — bad input is refused with 422 and writes nothing', async () => {
    const user = await newUser(srv);
    const calls = fake.requests.length;
    const fields = await composer(user);

    const unknownModel = await post(user, '/send', { ...fields, model: 'gpt-nope' }, false);
    const demoModel = await post(user, '/send', { ...fields, model: 'demo' }, false); // not served beside a real model API
    const hotTemperature = await post(user, '/send', { ...fields, temperature: '5' }, false);
    const empty = await post(user, '/send', { ...fields, message: '   ' });
    const tooLong = await post(user, '/send', { ...fields, message: 'x'.repeat(100_001) });
    expect(tooLong.status).toBe(422);
    expect(tooLong.text).toContain('This message is longer than 100,000 characters.');

    for (const refusedModel of [unknownModel, demoModel]) {
      expect(refusedModel.status).toBe(422);
      expect(refusedModel.text).toContain('Pick one of the listed models.');
    }
    expect(demoModel.text).not.toContain('value="demo"');
    expect(hotTemperature.status).toBe(422);
    expect(hotTemperature.text).toContain('Temperature is a number from 0 to 2.');
    expect(empty.status).toBe(422);
    expect(empty.text).toContain('Type a message first');
    expect(await q.conversations(user)).toEqual([]);
    expect(await q.holds(user)).toEqual([]);
    expect((await q.ledger(user)).map((r) => r.kind)).toEqual(['signup_bonus']);
    expect(fake.requests.length).toBe(calls);
  });

  test('a second message sends the history; Undo, Retry and Clear edit the transcript', async () => {
    const user = await newUser(srv);
    const first = await post(user, '/send', { ...(await composer(user)), message: 'First question' });
    const id = conversationIdIn(first.text);
    fake.script({ kind: 'stream', pieces: ['Second', ' answer'] });
    await post(user, '/send', { ...(await composer(user, `/c/${id}`)), message: 'Second question' });
    expect(fake.requests.at(-1)!.body.messages).toEqual([
      { role: 'user', content: 'First question' },
      { role: 'assistant', content: DEFAULT_ANSWER },
      { role: 'user', content: 'Second question' },
    ]);

    const csrf = (await composer(user, `/c/${id}`))._csrf;
    // Undo gives the question back for the textbox: in the page without JavaScript, beside the transcript with htmx.
    const undo = await post(user, `/c/${id}/undo`, { _csrf: csrf }, false);
    expect(undo.status).toBe(303); // a reload of the page it leads to must not undo again
    const afterUndo = await user.agent.get(undo.headers.location);
    expect(afterUndo.text).toMatch(/<textarea[^>]*id="message"[^>]*>Second question<\/textarea>/);
    expect((await user.agent.get(undo.headers.location)).text).toMatch(/<textarea[^>]*id="message"[^>]*><\/textarea>/); // once
    expect((await q.messages(id)).map((m) => m.content)).toEqual(['First question', DEFAULT_ANSWER]);
    fake.script({ kind: 'stream', pieces: ['Third', ' answer'] });
    await post(user, '/send', { ...(await composer(user, `/c/${id}`)), message: 'Third <question> & "more"' });
    const undoHtmx = await post(user, '/undo', { _csrf: csrf, conversation_id: String(id) });
    expect(undoHtmx.status).toBe(200);
    expect(undoHtmx.text).toContain('<template id="undone" data-text="Third &lt;question&gt; &amp; &quot;more&quot;"></template>');
    expect((await q.messages(id)).map((m) => m.content)).toEqual(['First question', DEFAULT_ANSWER]);

    fake.script({ kind: 'stream', pieces: ['A better', ' answer'], usage: { prompt_tokens: 12, completion_tokens: 3 } });
    const before = await q.balance(user);
    const retry = await post(user, '/retry', { ...(await composer(user, `/c/${id}`)), message: '' });
    expect(retry.status).toBe(200);
    expect(fake.requests.at(-1)!.body.messages).toEqual([{ role: 'user', content: 'First question' }]);
    // The new answer is shown; the earlier one stays, as version 1 of 2.
    expect((await q.thread(id)).map((m) => m.content)).toEqual(['First question', 'A better answer']);
    expect((await q.messages(id)).map((m) => m.content)).toEqual(['First question', DEFAULT_ANSWER, 'A better answer']);
    expect((await q.usage(user)).filter((u) => u.conversation_id === id)).toHaveLength(4);
    expect(before - (await q.balance(user))).toBe(priceOf(MINI, 12, 3));

    // Without JavaScript, Clear asks first (a page whose form sends it again, confirmed); nothing changes meanwhile.
    const asked = await post(user, `/c/${id}/clear`, { _csrf: csrf }, false);
    expect(asked.status).toBe(200);
    expect(asked.text).toContain('name="confirm" value="1"');
    expect(await q.messages(id)).toHaveLength(3);
    const clear = await post(user, `/c/${id}/clear`, { _csrf: csrf, confirm: '1' }, false);
    expect(clear.status).toBe(303);
    expect(await q.messages(id)).toEqual([]);
    const page = await user.agent.get(`/c/${id}`);
    expect(page.text).toContain('No messages yet.');
    expect(await q.usage(user)).toHaveLength(4); // what the turns cost stays on record
    // Delete asks first too, with or without JavaScript; the conversation stays until confirmed.
    const askedDelete = await post(user, `/c/${id}/delete`, { _csrf: csrf }, false);
    expect(askedDelete.status).toBe(200);
    expect(askedDelete.text).toContain('deleted for good');
    expect(await q.conversations(user)).toHaveLength(1);
    const deleted = await post(user, `/c/${id}/delete`, { _csrf: csrf, confirm: '1' }, false);
    expect(deleted.status).toBe(303);
    expect(await q.conversations(user)).toHaveLength(0);
  });

  test('each message keeps its own token count, made once: the question when sent or edited, an answer by the next turn', async () => {
    const user = await newUser(srv);
    const own = (role: string, content: string) => 3 + tokens(role) + tokens(content);
    const first = await post(user, '/send', { ...(await composer(user)), message: 'First question 你好' });
    const id = conversationIdIn(first.text);
    const counts = async () => (await q.messages(id)).map((m) => [m.tokens, m.tokens_encoding]);
    expect(await counts()).toEqual([[own('user', 'First question 你好'), 'o200k_base'], [null, null]]);

    fake.script({ kind: 'stream', pieces: ['Second', ' answer'], usage: { prompt_tokens: 1, completion_tokens: 2 } });
    await post(user, '/send', { ...(await composer(user, `/c/${id}`)), message: 'Second question', system: 'Be brief.' });
    expect(await counts()).toEqual([
      [own('user', 'First question 你好'), 'o200k_base'], [own('assistant', DEFAULT_ANSWER), 'o200k_base'],
      [own('user', 'Second question'), 'o200k_base'], [null, null],
    ]);
    // The prompt counted from them is the whole prompt's count.
    const prompt = own('system', 'Be brief.') + own('user', 'First question 你好') + own('assistant', DEFAULT_ANSWER) + own('user', 'Second question') + 3;
    expect((await q.holds(user)).at(-1).prompt_tokens).toBe(prompt);

    await post(user, '/edit', { ...(await composer(user, `/c/${id}`)), message: 'Second question, edited' });
    expect((await q.thread(id)).slice(2).map((m) => [m.content, m.tokens, m.tokens_encoding])).toEqual([
      ['Second question, edited', own('user', 'Second question, edited'), 'o200k_base'], [DEFAULT_ANSWER, null, null],
    ]);
  });

  test('a context-length error offers Retry with less history, which sends the newer half only', async () => {
    const user = await newUser(srv);
    const id = conversationIdIn((await post(user, '/send', { ...(await composer(user)), message: 'One' })).text);
    await post(user, '/send', { ...(await composer(user, `/c/${id}`)), message: 'Two' });
    fake.script({ kind: 'error', status: 400, code: 'context_length_exceeded', message: "This model's maximum context length is 128000 tokens." });
    const before = await q.balance(user);
    await post(user, '/send', { ...(await composer(user, `/c/${id}`)), message: 'Three' });
    expect(await q.balance(user)).toBe(before);

    const page = await user.agent.get(`/c/${id}`);
    expect(page.text).toContain('The conversation is too long for this model.');
    const form = /<form method="post" action="\/retry" class="inline">([\s\S]*?)<\/form>/.exec(page.text)![1]!;
    const fields = Object.fromEntries([...form.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    expect(fields).toMatchObject({ conversation_id: String(id), trim: '1' });
    const sent = await post(user, '/retry', fields, false);
    expect(sent.status).toBe(303); // to the conversation, at the new answer
    expect(sent.headers.location).toMatch(new RegExp(`^/c/${id}#m\\d+$`));
    const retry = await user.agent.get(`/c/${id}`);
    // History was One, answer, Two, answer, Three: the older half (One and its answer) is left out.
    expect(fake.requests.at(-1)!.body.messages.map((m: { content: string }) => m.content)).toEqual(['Two', DEFAULT_ANSWER, 'Three']);
    expect(retry.text).toContain('2 earlier messages were left out');
  });

  test('POST /estimate — what the prompt will cost, counted like a turn, for the chosen model', async () => {
    const user = await newUser(srv);
    const fields = await composer(user);
    const estimate = await user.agent.post('/estimate').type('form').set('HX-Request', 'true').send({ ...fields, message: 'How many tokens is this?' });
    expect(estimate.status).toBe(200);
    const prompt = 3 + tokens('user') + tokens('How many tokens is this?') + 3;
    // The most with the longest answer: 2,048 tokens would cost more than the sign-up bonus of 2,000, so as many as it pays for.
    const answer = affordableCompletion(MINI, prompt, 2000);
    expect(estimate.text).toBe(
      `About ${prompt} prompt tokens (costs ${priceOf(MINI, prompt, 0)}), plus the answer. At most ${priceOf(MINI, prompt, answer).toLocaleString('en')} with the longest answer (${answer} tokens).`,
    );
    const empty = await user.agent.post('/estimate').type('form').send({ ...fields, message: '  ' });
    expect(empty.text).toBe('');
    const unknown = await user.agent.post('/estimate').type('form').send({ ...fields, model: 'no-such-model' });
    expect(unknown.status).toBe(422);
  });

  test('POST /retry refused for want of tokens, or repeated with the same key, keeps the answer already paid for', async () => {
    const user = await newUser(srv);
    fake.script({ kind: 'stream', pieces: ['Paid', ' answer'], usage: { prompt_tokens: 9, completion_tokens: 2 } });
    const id = conversationIdIn((await post(user, '/send', { ...(await composer(user)), message: 'Worth keeping?' })).text);
    const balance = await q.balance(user);
    await grant(srv.database, user.id, -balance);
    const refused = await post(user, '/retry', { ...(await composer(user, `/c/${id}`)), message: '' }, false);
    expect(refused.status).toBe(402);
    expect((await q.messages(id)).map((m) => [m.content, m.status])).toEqual([['Worth keeping?', 'done'], ['Paid answer', 'done']]);

    await grant(srv.database, user.id, balance);
    fake.script({ kind: 'stream', pieces: ['Second', ' take'], usage: { prompt_tokens: 9, completion_tokens: 2 } });
    const fields = { ...(await composer(user, `/c/${id}`)), message: '' };
    expect((await post(user, '/retry', fields, false)).status).toBe(303);
    const again = await post(user, '/retry', fields, false); // the same form sent twice (a reload)
    expect(again.text).toContain('That message was already sent; it was not charged again.');
    expect((await q.thread(id)).map((m) => m.content)).toEqual(['Worth keeping?', 'Second take']);
    expect((await q.messages(id)).map((m) => m.content)).toEqual(['Worth keeping?', 'Paid answer', 'Second take']);
    expect(await q.usage(user)).toHaveLength(2);
  });

  test('POST /retry through htmx redraws the transcript; message ids are never reused', async () => {
    const user = await newUser(srv);
    const id = conversationIdIn((await post(user, '/send', { ...(await composer(user)), message: 'Again, please' })).text);
    const [, first] = await q.messages(id);
    const res = await post(user, '/retry', { ...(await composer(user, `/c/${id}`)), message: '' });
    expect(res.text).toContain('<hx-partial hx-target="#transcript" hx-swap="innerHTML">');
    const [, second] = await q.thread(id);
    expect(second.id).toBeGreaterThan(first.id);
    expect(res.text).not.toContain(`id="m${first.id}"`);
  });

  test('a form that leaves out the additional inputs keeps the conversation\'s settings', async () => {
    const user = await newUser(srv);
    const fields = { ...(await composer(user)), message: 'Ahoy', system: 'Be a pirate', max_tokens: '50', temperature: '0.3' };
    const id = conversationIdIn((await post(user, '/send', fields)).text);
    const page = await composer(user, `/c/${id}`);
    await post(user, '/retry', { _csrf: page._csrf, turn_key: page.turn_key, conversation_id: String(id) }, false);
    expect(fake.requests.at(-1)!.body).toMatchObject({ max_tokens: 50, temperature: 0.3 });
    expect(fake.requests.at(-1)!.body.messages[0]).toEqual({ role: 'system', content: 'Be a pirate' });
    expect((await q.conversations(user))[0]).toMatchObject({ system_prompt: 'Be a pirate', max_tokens: 50, temperature: 0.3 });
    // A turn that changes one of them, answered, leaves the conversation with the new one.
    const next = await composer(user, `/c/${id}`);
    await post(user, '/send', { ...next, conversation_id: String(id), message: 'Arr?', temperature: '0.9' });
    expect(fake.requests.at(-1)!.body).toMatchObject({ temperature: 0.9 });
    expect((await q.conversations(user))[0]).toMatchObject({ temperature: 0.9 });
  });

  test('the recovery sweep leaves a turn that is still streaming alone', async () => {
    const user = await newUser(srv);
    const { live, gate: g } = await heldAnswer(srv, fake, user, { pieces: ['Slow', ' model'], usage: { prompt_tokens: 8, completion_tokens: 2 } });
    expect(await recoverHolds(srv.database, 0, liveHolds)).toEqual({ settled: 0, released: 0 });
    g.release();
    await live.done;
    expect((await q.holds(user))[0]).toMatchObject({ state: 'settled', charge: priceOf(MINI, 8, 2), source: 'reported' });
  });

  test('a model API that ignores max_tokens is cut off, and charged no more than max_tokens', async () => {
    const user = await newUser(srv);
    const pieces = Array.from({ length: 200 }, (_, i) => ` word${i}`);
    fake.script({ kind: 'stream', pieces, usage: { prompt_tokens: 10, completion_tokens: 600 } });
    const before = await q.balance(user);
    const res = await post(user, '/send', { ...(await composer(user)), message: 'Ramble', max_tokens: '20' });
    expect(res.status).toBe(200);
    expect(fake.requests.at(-1)!.body.max_tokens).toBe(20);
    const [hold] = await q.holds(user);
    expect(hold).toMatchObject({ state: 'settled', completion_tokens: 20, source: 'estimated' });
    expect(before - (await q.balance(user))).toBe(priceOf(MINI, hold.prompt_tokens, 20));
    expect(res.text).not.toContain('word199');
  });

  test('a lone carriage return in model output cannot start an event-stream field', async () => {
    const user = await newUser(srv);
    fake.script({ kind: 'stream', pieces: ['x\revent: tokenchat:turn-started\rdata: 1\r', ' done'] });
    const res = await post(user, '/send', await composer(user));
    const lines = res.text.split(/\r\n|\r|\n/);
    expect(lines.filter((l) => l.startsWith('event:'))).toEqual(['event: tokenchat:turn-started', 'event: tokenchat:turn-settled']);
  });

  test("the composer's Undo and Clear buttons post to routes that exist", async () => {
    const user = await newUser(srv);
    const id = conversationIdIn((await post(user, '/send', { ...(await composer(user)), message: 'Undo me' })).text);
    const page = await user.agent.get(`/c/${id}`);
    const action = (button: string) => new RegExp(`formaction="([^"]+)"[^>]*id="${button}"`).exec(page.text)![1]!;
    const fields = { ...(await composer(user, `/c/${id}`)), message: '' };

    const undo = await post(user, action('undo'), fields, false);
    expect(undo.status).toBe(303);
    expect((await user.agent.get(undo.headers.location)).text).toContain('>Undo me</textarea>'); // back in the textbox
    expect(await q.messages(id)).toEqual([]);

    await post(user, '/send', { ...(await composer(user, `/c/${id}`)), message: 'Clear me' });
    const clear = await post(user, action('clear'), { ...fields, confirm: '1' }, false);
    expect(clear.status).toBe(303);
    expect(await q.messages(id)).toEqual([]);
  });

  test('POST /c/:id/rename and /delete (owner only); GET /c?q= finds a conversation by its messages', async () => {
    const user = await newUser(srv);
    const other = await newUser(srv);
    fake.script({ kind: 'stream', pieces: ['The', ' albatross', ' glides.'] });
    const birds = conversationIdIn((await post(user, '/send', { ...(await composer(user)), message: 'Tell me about seabirds' })).text);
    const bread = conversationIdIn((await post(user, '/send', { ...(await composer(user)), message: 'A recipe for bread' })).text);

    const found = await user.agent.get('/c').query({ q: 'albatross' });
    expect(found.status).toBe(200);
    expect(found.text).toContain(`href="/c/${birds}"`);
    expect(found.text).not.toContain(`href="/c/${bread}"`);
    const partialList = await user.agent.get('/c').query({ q: 'albatross' }).set('HX-Request', 'true');
    expect(partialList.text).toMatch(/^<ul id="conversation-list"/);
    expect((await other.agent.get('/c').query({ q: 'albatross' })).text).not.toContain(`href="/c/${birds}"`);

    const csrf = (await composer(user, `/c/${birds}`))._csrf;
    const renamed = await post(user, `/c/${birds}/rename`, { _csrf: csrf, title: 'Birds  of the sea' }, false);
    expect(renamed.status).toBe(303);
    expect((await q.conversations(user)).find((c) => c.id === birds).title).toBe('Birds of the sea');
    expect((await user.agent.get(`/c/${birds}`)).text).toContain('>Birds of the sea</a>');
    expect((await post(user, `/c/${birds}/rename`, { _csrf: csrf, title: '   ' }, false)).status).toBe(422);

    const usageBefore = await q.usage(user);
    const deleted = await post(user, `/c/${bread}/delete`, { _csrf: csrf, confirm: '1' }, false);
    expect(deleted.status).toBe(303);
    expect(deleted.headers.location).toBe('/');
    expect((await user.agent.get(`/c/${bread}`)).status).toBe(404);
    expect(await q.messages(bread)).toEqual([]);
    expect((await q.conversations(user)).map((c) => c.id)).toEqual([birds]);
    expect(await q.usage(user)).toEqual(usageBefore); // deleting a chat does not rewrite what it cost
  });
});

describe('chat turns when the balance runs out', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer(serverEnv({ SIGNUP_BONUS: '5' }));
  });
  afterAll(() => srv.close());

  test('POST /send — 402 tells how to get tokens, and the model API is never called', async () => {
    const q = db(srv);
    const user = await newUser(srv);
    const calls = fake.requests.length;
    const message = 'Please summarise this long text: ' + 'lorem ipsum dolor sit amet '.repeat(20);

    const htmx = await post(user, '/send', { ...(await composer(user)), message });
    const plain = await post(user, '/send', { ...(await composer(user)), message }, false);

    expect(htmx.status).toBe(402);
    expect(htmx.text).toContain('Not enough tokens');
    // A warning whose way out is a link to the Recharge page; no payments here, so it offers a code, not buying.
    expect(htmx.text).toContain('<p class="notice notice-warning" role="alert">');
    expect(htmx.text).toContain('<a href="/recharge">Redeem a code on the Recharge page</a>, or ask an administrator for tokens.');
    expect(htmx.text).not.toContain('Buy tokens');
    expect(plain.status).toBe(402);
    expect(plain.text).toContain('<a href="/recharge">Redeem a code on the Recharge page</a>');
    expect(plain.text).toContain(message.trim().slice(0, 40)); // the draft is kept
    expect(fake.requests.length).toBe(calls);
    expect(await q.balance(user)).toBe(5);
    expect(await q.holds(user)).toEqual([]);
    expect(await q.messagesOfUser(user)).toEqual([]);
  });
});

describe('chat turns under the concurrency limits', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer(serverEnv({ SIGNUP_BONUS: '2000', TURNS_PER_USER: '1', UPSTREAM_CONCURRENCY: '1', ESTIMATE_RATE_LIMIT_PER_USER: '3' }));
  });
  afterAll(() => srv.close());

  test('Undo and Clear wait for a turn queued for the model; a conversation changed under a queued turn refuses it and charges nothing', async () => {
    const q = db(srv);
    const other = await newUser(srv);
    const user = await newUser(srv);
    fake.script({ kind: 'stream', pieces: ['First', ' answer'] });
    const firstTurn = await post(user, '/send', await composer(user, '/', 'First question'));
    expect(firstTurn.status).toBe(200);
    const [conversation] = await q.conversations(user);
    const before = await q.balance(user);
    const page = `/c/${conversation.id}`;

    // Another user's answer holds the only model slot, so this user's Edit waits in the queue.
    const calls = fake.requests.length;
    const { live: blocking, gate: g } = await heldAnswer(srv, fake, other, { pieces: ['busy', ' model'] });
    const edit = openStream(srv, user, { ...(await composer(user, page, 'First question, edited')), conversation_id: String(conversation.id) });
    await until('the edit to queue', () => edit.text.includes('in the queue'));

    const { _csrf } = await composer(user, page);
    for (const path of ['/undo', '/clear']) {
      const res = await post(user, path, { _csrf, conversation_id: String(conversation.id) });
      expect(res.status).toBe(409);
      expect(res.text).toContain('An answer is still being written in this conversation.');
    }
    // What the registry cannot see (another server process clearing it) the turn itself checks.
    await srv.sql.run('DELETE FROM messages WHERE conversation_id = ?', conversation.id);
    g.release();
    await Promise.all([blocking.done, edit.done]);

    expect(edit.text).toContain('The conversation or your balance changed while this message waited. Nothing was charged; send it again.');
    expect(edit.text.split('<hx-partial hx-target="#turn-key"').length).toBe(2); // its key is spent: the composer gets a new one
    // The conversation is shown as it is now, the notice in it (the message forms' keys are new too).
    expect(edit.text).toMatch(/<hx-partial hx-target="#transcript" hx-swap="innerHTML">[^]*No messages yet[^]*changed while this message waited/);
    expect(fake.requests.length).toBe(calls + 1); // the blocking answer only
    expect(await q.messages(conversation.id)).toEqual([]);
    expect(await q.balance(user)).toBe(before);
    expect((await q.holds(user)).map((h) => h.state)).toEqual(['settled', 'released']);
  });

  test('POST /send — a second turn while one runs is refused: 429 past the per-user cap, 409 in the same conversation', async () => {
    const q = db(srv);
    const user = await newUser(srv);
    const { live, gate: g } = await heldAnswer(srv, fake, user, { pieces: ['slow', ' answer'] });
    await until('the turn to start', () => live.text.includes('id="conversation-id"'));
    const calls = fake.requests.length;
    const conversationId = conversationIdIn(live.text);
    // The started answer gave the composer a new turn key: a message typed meanwhile is a new turn.
    const newKey = /<input type="hidden" id="turn-key" name="[^"]+" value="([^"]+)"/.exec(live.text)?.[1];
    expect(newKey).toBeDefined();
    expect(newKey).not.toBe((await composer(user)).turn_key);

    const elsewhere = await post(user, '/send', { ...(await composer(user)), message: 'Another' });
    const here = await post(user, '/send', { ...(await composer(user)), conversation_id: String(conversationId), turn_key: newKey!, message: 'Another' });
    const undo = await post(user, '/undo', { _csrf: (await composer(user))._csrf, conversation_id: String(conversationId) });
    const clear = await post(user, '/clear', { _csrf: (await composer(user))._csrf, conversation_id: String(conversationId) });

    expect(elsewhere.status).toBe(429);
    expect(elsewhere.text).toContain('You already have as many answers running as allowed.');
    expect(here.status).toBe(409);
    expect(here.text).toContain('An answer is still being written in this conversation. Wait for it, or press Stop.');
    for (const refused of [undo, clear]) {
      expect(refused.status).toBe(409);
      expect(refused.text).toContain('An answer is still being written in this conversation.');
      // Beside the composer: redrawing the transcript would empty the answer streaming into it.
      expect(refused.headers['hx-retarget']).toBe('#turn-status');
      expect(refused.text).not.toContain('<article');
    }
    expect(fake.requests.length).toBe(calls);
    expect((await q.messages(conversationId)).map((m) => m.role)).toEqual(['user', 'assistant']);
    g.release();
    await live.done;
    expect((await q.holds(user)).map((h) => h.state)).toEqual(['settled']);
  });

  test('POST /send — past the per-user cap a turn is refused as busy before its text is counted, even a text too long to send', async () => {
    const user = await newUser(srv);
    const { live, gate: g } = await heldAnswer(srv, fake, user, { pieces: ['slow', ' answer'] });
    const tooLong = 'a b '.repeat(24_000); // ~48,000 tokens: more than GPT-3.5 Turbo's context window
    const countText = jest.spyOn(tokensText, 'countText');
    try {
      const refused = await post(user, '/send', { ...(await composer(user)), model: 'gpt-3.5-turbo', message: tooLong });
      expect(refused.status).toBe(429);
      expect(refused.text).toContain('You already have as many answers running as allowed.');
      expect(countText).not.toHaveBeenCalled();
    } finally {
      countText.mockRestore();
      g.release(); // a failure here must not hold the model slot for the tests after it
      await live.done;
    }
    // With the slot free, the same text is counted and refused for its length.
    const tooLongNow = await post(user, '/send', { ...(await composer(user)), model: 'gpt-3.5-turbo', message: tooLong });
    expect(tooLongNow.status).toBe(422);
    expect((await db(srv).holds(user)).map((h) => h.state)).toEqual(['settled']);
  });

  test('POST /estimate — past ESTIMATE_RATE_LIMIT_PER_USER a minute, 429 in the estimate slot and nothing counted; other users unaffected', async () => {
    const user = await newUser(srv);
    const other = await newUser(srv);
    const fields = await composer(user, '/', 'How many tokens is this?');
    const estimate = (who: User, f: Fields) => who.agent.post('/estimate').type('form').set('HX-Request', 'true').send(f);
    for (let i = 0; i < 3; i++) expect((await estimate(user, fields)).status).toBe(200);
    const countText = jest.spyOn(tokensText, 'countText');
    try {
      const throttled = await estimate(user, { ...fields, message: 'x '.repeat(50_000) });
      expect(throttled.status).toBe(429);
      expect(throttled.text).toBe('Too many estimates in the last minute; the next one comes shortly. Sending is not affected.');
      expect(countText).not.toHaveBeenCalled();
    } finally {
      countText.mockRestore();
    }
    const elsewhere = await estimate(other, await composer(other, '/', 'Mine?'));
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.text).toMatch(/^About \d+ prompt tokens/);
  });

  test("POST /send — a turn waiting for another user's shows its place in the queue, then its answer", async () => {
    const first = await newUser(srv);
    const second = await newUser(srv);
    const { live: running, gate: g } = await heldAnswer(srv, fake, first, { pieces: ['busy', ' model'] }, { then: [{ kind: 'stream', pieces: ['Your', ' turn', ' now'] }] });

    const waiting = openStream(srv, second, await composer(second));
    await until('the queue message', () => waiting.text.includes('number 1 in the queue'));
    expect(waiting.text).not.toContain('>Your</hx-partial>');
    g.release();
    await Promise.all([running.done, waiting.done]);

    expect(waiting.status).toBe(200);
    expect(waiting.text.indexOf('number 1 in the queue')).toBeLessThan(waiting.text.indexOf('>Your</hx-partial>'));
    expect(waiting.text).toContain('Your turn now');
    expect(await db(srv).usage(second)).toEqual([expect.objectContaining({ outcome: 'ok' })]);
  });
});

describe('the offline demo model', () => {
  test('its answers say they were counted by the demo model, not reported by a provider', async () => {
    const demo = await startTestServer({ DEMO_DELAY_MS: '0', SIGNUP_BONUS: '5000' });
    try {
      const user = await newUser(demo);
      const res = await post(user, '/send', { ...(await composer(user)), model: 'demo' });
      expect(res.status).toBe(200);
      expect(res.text).toContain('counted by the offline demo model');
      expect(res.text).not.toContain('reported by the provider');
    } finally {
      await demo.close();
    }
  });
});
