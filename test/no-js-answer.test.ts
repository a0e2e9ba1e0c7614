// A send without JavaScript (issue 26: 10): the page comes back at once, redirected to the
// conversation, while the answer is written; that page shows the text so far, reloads itself every
// 2 s (a <noscript> meta refresh, so a page with JavaScript follows the answer live instead) and has
// Stop beside the answer. Once the answer ends the page stops reloading.
import { loadModels, priceOf } from '../src/metering/models';
import { countTextSync } from '../src/metering/tokens';
import { gate, startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { composer, db, newUser, post, postAsItComes, until } from './chat-helpers';
import { startTestServer, type TestServer } from './helpers';

const MINI = loadModels().find('gpt-4o-mini')!;
// Alternating with ?again: a refresh to the very address shown (fragment included) would fetch nothing.
const REFRESH = /<noscript><meta http-equiv="refresh" content="2; url=\/c\/(\d+)(?:\?again)?#m(\d+)"><\/noscript>/;

let fake: FakeUpstream;
let srv: TestServer;
let q: ReturnType<typeof db>;
beforeAll(async () => {
  fake = await startFakeUpstream();
  srv = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, DEMO_DELAY_MS: '0', SIGNUP_BONUS: '2000' });
  q = db(srv);
});
afterAll(async () => {
  await srv.close();
  await fake.close();
});

/** Sends a message as a plain form (no htmx) whose answer waits after its first piece. */
async function sendHeld(pieces: string[]) {
  const user = await newUser(srv);
  const held = gate();
  fake.script({ kind: 'stream', pieces, gate: held, gateAfter: 1, usage: { prompt_tokens: 10, completion_tokens: pieces.length } });
  const fields = { ...(await composer(user)), message: 'Answer slowly' };
  const sent = await postAsItComes(user, '/send', fields, false); // comes back while the model is still held
  await held.reached;
  const [conversation] = await q.conversations(user);
  const answer = (await q.messages(conversation.id)).find((m) => m.role === 'assistant')!;
  return { user, held, fields, sent, id: Number(conversation.id), answer };
}

test('the page comes back at once: to the conversation, which shows the text so far, reloads itself and offers Stop; done, it stops reloading', async () => {
  const { user, held, sent, id, answer } = await sendHeld(['Slow', ' but', ' sure.']);
  expect(sent.status).toBe(303);
  expect(sent.headers.location).toBe(`/c/${id}#m${answer.id}`);
  expect(answer.status).toBe('streaming');
  await until('the first piece kept', async () => (await q.messages(id)).some((m) => m.content === 'Slow'));
  const page = await user.agent.get(`/c/${id}`);
  expect(page.status).toBe(200);
  expect(page.text).toMatch(REFRESH);
  expect(REFRESH.exec(page.text)!.slice(1).map(Number)).toEqual([id, Number(answer.id)]);
  expect(page.text).toContain(`url=/c/${id}?again#m${answer.id}`);
  expect((await user.agent.get(`/c/${id}?again`)).text).toContain(`url=/c/${id}#m${answer.id}"`);
  expect(page.text).toMatch(new RegExp(`id="m${answer.id}-text" aria-busy="true">(<p>)?[^<]*Slow`));
  expect(page.text).toMatch(new RegExp(`<noscript><p class="muted small">This page reloads itself every 2 seconds until the answer is finished[^<]*</p><form method="post" action="/stop" class="inline">[\\s\\S]*?name="conversation_id" value="${id}"[\\s\\S]*?Stop</button>\\s*</form></noscript>`));

  held.release();
  await until('the answer finished', async () => (await q.messages(id)).find((m) => m.role === 'assistant')!.status === 'done');
  const done = await user.agent.get(`/c/${id}`);
  expect(done.text).not.toContain('http-equiv="refresh"');
  expect(done.text).toContain('Slow but sure.');
  expect(done.text).not.toContain('action="/stop" class="inline"');
});

test('Stop from the reloading page stops the answer and charges what was shown; the page no longer reloads', async () => {
  const { user, held, id } = await sendHeld(['One', ' two', ' three']);
  const page = await user.agent.get(`/c/${id}`);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
  const stop = await postAsItComes(user, '/stop', { _csrf: csrf, conversation_id: String(id) }, false);
  expect(stop.status).toBe(303);
  expect(stop.headers.location).toBe(`/c/${id}`);
  held.release();
  await until('the answer stopped', async () => (await q.messages(id)).find((m) => m.role === 'assistant')!.status === 'stopped');
  const [hold] = await q.holds(user);
  const delivered = countTextSync('One', MINI.encoding);
  expect(hold).toMatchObject({ state: 'settled', completion_tokens: delivered, outcome: 'stopped' });
  expect(Number(hold.charge)).toBe(priceOf(MINI, Number(hold.prompt_tokens), delivered));
  expect(await q.ledger(user)).toHaveLength(3); // the bonus, the reserve, the settle: charged once
  expect(await q.balance(user)).toBe(2000 - Number(hold.charge));
  const after = await user.agent.get(`/c/${id}`);
  expect(after.text).not.toContain('http-equiv="refresh"');
  expect(after.text).toContain('Stopped.');
});

test('the same form sent again while the answer is written (a reload of the POST) charges once and changes nothing', async () => {
  const { user, held, fields, id } = await sendHeld(['Only', ' once']);
  const again = await postAsItComes(user, '/send', fields, false);
  // The conversation as it is, saying the message was already sent, and reloading while its answer is written.
  expect(again.status).toBe(200);
  expect(again.text).toContain('already sent');
  expect(again.text).toMatch(REFRESH);
  held.release();
  await until('the answer finished', async () => (await q.messages(id)).find((m) => m.role === 'assistant')!.status === 'done');
  expect(await q.conversations(user)).toHaveLength(1);
  expect((await q.messages(id)).map((m) => m.content)).toEqual(['Answer slowly', 'Only once']);
  expect(await q.usage(user)).toHaveLength(1);
});

test('a refusal still answers with the page at once, the draft kept and no reloading', async () => {
  const user = await newUser(srv);
  const res = await post(user, '/send', { ...(await composer(user)), message: 'Which model?', temperature: '5' }, false);
  expect(res.status).toBe(422);
  expect(res.text).toContain('Which model?');
  expect(res.text).not.toContain('http-equiv="refresh"');
});
