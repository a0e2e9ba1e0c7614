// The model and what it costs, where a user sees it (issue 26, defect 6 and "costs while it
// happens"): the picker beside the textbox with each model's price at the user's percent, a chosen
// model used and charged at its price, each answer naming its model (every version), the estimate's
// upper bound, the running cost while an answer streams, and the estimate cleared once sent.
import { addMembers, createGroup, setGroupRules } from '../src/groups/groups';
import { grant } from '../src/ledger/ledger';
import { setSpendLimits } from '../src/ledger/spend-limits';
import { affordableCompletion, loadModels, priceOf } from '../src/metering/models';
import { countTextSync } from '../src/metering/tokens';
import { composer, conversationIdIn, db, heldAnswer, newUser, post, until, type User } from './chat-helpers';
import type { FakeUpstream } from './fake-upstream';
import type { TestServer } from './helpers';
import { serveOnFake } from './server-on-fake';

const catalog = loadModels();
const MINI = catalog.find('gpt-4o-mini')!;
const GPT4O = catalog.find('gpt-4o')!;

let fake: FakeUpstream;
let srv: TestServer;
serveOnFake({ DEMO_DELAY_MS: '0' }, (f, s) => ((fake = f), (srv = s)));

/** A prompt of one user message as the estimate and the hold count it (chat format overhead included). */
const promptOf = (text: string) => 3 + countTextSync('user', MINI.encoding) + countTextSync(text, MINI.encoding) + 3;

const estimate = (user: User, fields: Record<string, string>) =>
  user.agent.post('/estimate').type('form').set('HX-Request', 'true').send(fields);

/** The composer's model row: the label, the select and the chosen model's price. */
const modelRow = (html: string) => /<div class="composer-model">([\s\S]*?)<\/div>/.exec(html)?.[1] ?? '';

test('GET / — the model picker is beside the textbox, outside "Additional inputs", each model priced per 1K tokens', async () => {
  const user = await newUser(srv);
  const page = (await user.agent.get('/')).text;
  const row = modelRow(page);
  expect(row).toContain('<label for="model">Model</label>');
  expect(row).toContain('<option value="gpt-4o-mini" data-price="Per 1K tokens: 1,000 for the prompt, 4,000 for the answer, from your balance." selected>GPT-4o mini — 1,000 / 4,000 per 1K tokens</option>');
  expect(row).toContain('>GPT-4o — 16,666.67 / 66,666.67 per 1K tokens</option>');
  expect(row).toContain('<p id="model-price" class="muted small">Per 1K tokens: 1,000 for the prompt, 4,000 for the answer, from your balance.</p>');
  const additional = /<details class="additional">[\s\S]*?<\/details>/.exec(page)![0];
  expect(additional).not.toContain('name="model"');
  expect(page.match(/name="model"/g)).toHaveLength(1); // one picker, part of the composer's form
  // In Chinese too.
  const zh = (await user.agent.get('/').set('Accept-Language', 'zh-CN')).text;
  expect(modelRow(zh)).toContain('GPT-4o mini — 每千 tokens 1,000 / 4,000');
  expect(modelRow(zh)).toContain('每千 tokens：提示 1,000，回答 4,000，从你的余额扣除。');
});

test('GET / — only the models the user\'s groups allow, at their percent, naming the group', async () => {
  const user = await newUser(srv);
  const id = await srv.database.write(createGroup, null, `Priced ${user.id}`);
  await srv.database.write(setGroupRules, null, id, { models: ['gpt-4o-mini', 'gpt-4o'], pricePercent: 25 });
  await srv.database.write(addMembers, null, id, [user.id]);
  const row = modelRow((await user.agent.get('/')).text);
  expect([...row.matchAll(/<option value="([^"]+)"/g)].map((m) => m[1])).toEqual(['gpt-4o-mini', 'gpt-4o']);
  expect(row).toContain(`Per 1K tokens: 250 for the prompt, 1,000 for the answer, from your balance (25% of the list price, as Priced ${user.id}).`);
  expect(row).toContain('>GPT-4o — 4,166.67 / 16,666.67 per 1K tokens</option>');
});

test('POST /send without JavaScript — the chosen model answers, is charged at its rates, named on the answer and kept chosen', async () => {
  const user = await newUser(srv);
  await grant(srv.database, user.id, 100_000);
  fake.script({ kind: 'stream', pieces: ['Dearer'], usage: { prompt_tokens: 12, completion_tokens: 3 } });
  const sent = await post(user, '/send', { ...(await composer(user, '/', 'Which model?')), model: 'gpt-4o' }, false);
  expect(sent.status).toBe(303);
  // The page may come back before the answer ends (it follows it): the answer is charged meanwhile.
  await until('the answer is charged', async () => (await db(srv).holds(user))[0]?.state === 'settled');
  expect(fake.requests.at(-1)!.body.model).toBe('gpt-4o');
  const [hold] = await db(srv).holds(user);
  expect({ prompt: Number(hold.prompt_rate), completion: Number(hold.completion_rate), charge: Number(hold.charge) })
    .toEqual({ prompt: GPT4O.promptRate, completion: GPT4O.completionRate, charge: priceOf(GPT4O, 12, 3) });
  const page = (await user.agent.get(sent.headers.location!.split('#')[0]!)).text;
  expect(page).toContain('<span class="msg-model">Model: GPT-4o</span>');
  expect(page).toContain(`charged ${priceOf(GPT4O, 12, 3).toLocaleString('en')}`);
  expect(modelRow(page)).toContain('<option value="gpt-4o" data-price="Per 1K tokens: 16,666.67 for the prompt, 66,666.67 for the answer, from your balance." selected>');
  expect(modelRow(page)).toContain('16,666.67 for the prompt');
});

test('each version of an answer names the model that wrote it', async () => {
  const user = await newUser(srv);
  await grant(srv.database, user.id, 100_000);
  const first = await post(user, '/send', { ...(await composer(user, '/', 'Two models?')), model: 'gpt-4o-mini' });
  const id = conversationIdIn(first.text);
  expect(first.text).toContain('Model: GPT-4o mini');
  const again = await post(user, '/retry', { ...(await composer(user, `/c/${id}`, '')), model: 'gpt-4o' });
  expect(again.status).toBe(200);
  const answers = (await db(srv).messages(id)).filter((m) => m.role === 'assistant');
  expect(answers.map((m) => m.model)).toEqual(['gpt-4o-mini', 'gpt-4o']);
  const shown = (await user.agent.get(`/c/${id}`)).text;
  expect(shown).toContain('Model: GPT-4o</span>');
  expect(shown).not.toContain('Model: GPT-4o mini');
  const back = await post(user, `/c/${id}/version`, { ...(await composer(user, `/c/${id}`)), message_id: String(answers[0]!.id) }, false);
  expect(back.status).toBe(303);
  expect((await user.agent.get(`/c/${id}`)).text).toContain('Model: GPT-4o mini</span>');
});

describe('POST /estimate — the most the turn can cost', () => {
  const text = 'How much at most?';

  test('with the longest answer the balance pays for, and with max tokens; for the model chosen', async () => {
    const user = await newUser(srv); // the sign-up bonus: 2,000
    const fields = { ...(await composer(user, '/', text)) };
    const prompt = promptOf(text);
    // 2,048 answer tokens at 4 each are more than 2,000: the answer is what the balance pays for.
    const answer = affordableCompletion(MINI, prompt, 2000);
    const res = await estimate(user, fields);
    expect(res.text).toBe(`About ${prompt} prompt tokens (costs ${prompt}), plus the answer. At most ${priceOf(MINI, prompt, answer).toLocaleString('en')} with the longest answer (${answer} tokens).`);
    const capped = await estimate(user, { ...fields, max_tokens: '100' });
    expect(capped.text).toContain(`At most ${priceOf(MINI, prompt, 100)} with the longest answer (100 tokens).`);
    await grant(srv.database, user.id, 1_000_000);
    const rich = await estimate(user, fields);
    expect(rich.text).toContain(`At most ${priceOf(MINI, prompt, 2048).toLocaleString('en')} with the longest answer (2,048 tokens).`);
    const dearer = await estimate(user, { ...fields, model: 'gpt-4o' });
    expect(dearer.text).toContain(`(costs ${priceOf(GPT4O, prompt, 0)})`);
    expect(dearer.text).toContain(`At most ${priceOf(GPT4O, prompt, 2048).toLocaleString('en')} with the longest answer`);
    const zh = await estimate(user, fields).set('Accept-Language', 'zh-CN');
    expect(zh.text).toContain(`回答最长（2,048 个 tokens）时最多花费 ${priceOf(MINI, prompt, 2048).toLocaleString('en')}。`);
  });

  test('a per-message spend limit lowers it, as the hold would be; a balance too small warns instead', async () => {
    const user = await newUser(srv);
    await grant(srv.database, user.id, 1_000_000);
    await srv.database.write(setSpendLimits, user.id, { perMessage: 500, perDay: null });
    const fields = await composer(user, '/', text);
    const prompt = promptOf(text);
    const answer = affordableCompletion(MINI, prompt, 500);
    expect((await estimate(user, fields)).text).toContain(`At most ${priceOf(MINI, prompt, answer)} with the longest answer (${answer} tokens).`);
    await grant(srv.database, user.id, -((await db(srv).balance(user)) - prompt));
    const poor = (await estimate(user, fields)).text;
    expect(poor).toContain('it would be refused');
    expect(poor).not.toContain('At most');
  });
});

test('while an answer streams: its running cost comes with the renders; the estimate is cleared when the message is sent', async () => {
  const user = await newUser(srv);
  await grant(srv.database, user.id, 100_000);
  const fields = await composer(user, '/', 'Cost as it goes');
  const { live, gate } = await heldAnswer(srv, fake, user, { pieces: ['One', ' two', ' three'], usage: { prompt_tokens: 9, completion_tokens: 3 } }, { fields });
  await until('the answer started', () => /id="m\d+-cost"/.test(live.text));
  const id = Number(/id="m(\d+)-cost"/.exec(live.text)![1]);
  expect(live.text).toContain('<hx-partial hx-target="#estimate" hx-swap="innerHTML"></hx-partial>');
  expect(live.text).toContain('<span class="msg-model">Model: GPT-4o mini</span>');
  // The first piece was sent alone; the render after it says what the answer costs so far.
  await until('the running cost', () => live.text.includes(`hx-target="#m${id}-cost"`));
  const prompt = promptOf('Cost as it goes');
  expect(live.text).toContain(`<hx-partial hx-target="#m${id}-cost" hx-swap="innerHTML">1 token so far, cost ${priceOf(MINI, prompt, 1)}</hx-partial>`);
  gate.release();
  await live.done;
  expect(live.text).toContain(`charged ${priceOf(MINI, 9, 3)}`);
});

test('a page opened on an answer being written (without JavaScript it reloads itself) shows its cost so far, as its hold records it', async () => {
  const user = await newUser(srv);
  await grant(srv.database, user.id, 100_000);
  const fields = await composer(user, '/', 'Cost on reload');
  const { live, gate } = await heldAnswer(srv, fake, user, { pieces: ['One', ' two'], usage: { prompt_tokens: 9, completion_tokens: 2 } }, { fields });
  await until('the answer started', () => /id="m\d+-cost"/.test(live.text));
  const id = conversationIdIn(live.text);
  await until('the first token recorded', async () => Number((await db(srv).holds(user))[0]?.delivered) === 1);
  const page = (await user.agent.get(`/c/${id}`)).text;
  const prompt = promptOf('Cost on reload');
  expect(page).toMatch(new RegExp(`id="m\\d+-cost">1 token so far, cost ${priceOf(MINI, prompt, 1)}</span>`));
  const zh = (await user.agent.get(`/c/${id}`).set('Accept-Language', 'zh-CN')).text;
  expect(zh).toContain(`已生成 1 个 tokens，花费 ${priceOf(MINI, prompt, 1)}</span>`);
  gate.release();
  await live.done;
  expect((await user.agent.get(`/c/${id}`)).text).not.toContain('so far');
});
