// Groups on the chat page, /v1 and the keys page (issue 24): a user sees and uses only the models
// their groups allow, at the lowest percent among those that allow each; people in no group follow
// Everyone; the price is fixed on the hold, so changing a group mid-turn never changes that turn.
import OpenAI, { APIError } from 'openai';
import { createKey, generateKey } from '../src/accounts/api-keys';
import { addMembers, createGroup, listGroups, removeMembers, setGroupRules, type GroupRules } from '../src/groups/groups';
import { grant } from '../src/ledger/ledger';
import { composer, db, heldAnswer, newUser, post, type User } from './chat-helpers';
import type { FakeUpstream } from './fake-upstream';
import type { TestServer } from './helpers';
import { serveOnFake } from './server-on-fake';

let fake: FakeUpstream;
let srv: TestServer;
serveOnFake({}, (f, s) => ((fake = f), (srv = s)));
afterEach(async () => {
  await srv.database.write(setGroupRules, null, await everyoneId(), { models: null, pricePercent: 100 }); // as the migration left it
});

const everyoneId = async () => (await srv.database.read(listGroups)).find((g) => g.builtin)!.id;

let groupSeq = 0;
/** A new group with these rules and these members (made as the operator at the command line). */
async function group(rules: GroupRules, members: User[]): Promise<{ id: number; name: string }> {
  const name = `Class ${++groupSeq}`;
  const id = await srv.database.write(createGroup, null, name);
  await srv.database.write(setGroupRules, null, id, rules);
  await srv.database.write(addMembers, null, id, members.map((m) => m.id));
  return { id, name };
}

async function member(): Promise<User> {
  const user = await newUser(srv);
  await grant(srv.database, user.id, 100_000);
  return user;
}

async function keyOf(user: User): Promise<string> {
  return (await srv.database.write(createKey, user.id, { name: 'laptop', models: null, perDay: null, total: null, expiresAt: null }, generateKey())).key;
}

const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${srv.url}/v1`, maxRetries: 0 });

/** The model picker's choices on the chat page. */
async function picker(user: User): Promise<string[]> {
  const page = await user.agent.get('/');
  const select = /<select[^>]*name="model"[\s\S]*?<\/select>/.exec(page.text)![0];
  return [...select.matchAll(/<option value="([^"]+)"/g)].map((m) => m[1]!);
}

async function keysPageModels(user: User): Promise<string[]> {
  const page = await user.agent.get('/keys');
  return [...page.text.matchAll(/name="models" value="([^"]+)"/g)].map((m) => m[1]!);
}

const v1Models = async (key: string) => (await client(key).models.list()).data.map((m) => m.id);

async function v1Refusal(key: string, model: string): Promise<APIError> {
  const err = await client(key).chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 20 }).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(APIError);
  return err as APIError;
}

/** A send from the chat page for `model`, as htmx posts it; the answer's usage as the fake reports it. */
async function send(user: User, model: string, usage = { prompt_tokens: 10, completion_tokens: 5 }) {
  fake.script({ kind: 'stream', usage });
  return post(user, '/send', { ...(await composer(user)), model, max_tokens: '20' });
}

const holdRates = async (user: User) =>
  (await db(srv).holds(user)).map((h) => ({ prompt: Number(h.prompt_rate), completion: Number(h.completion_rate), charge: h.charge === null ? null : Number(h.charge), state: h.state }));

test('a member of a group limited to gpt-4o-mini sees only it: the picker, /v1/models and the keys page', async () => {
  const student = await member();
  const outsider = await member();
  await group({ models: ['gpt-4o-mini'], pricePercent: 100 }, [student]);
  expect(await picker(student)).toEqual(['gpt-4o-mini']);
  expect(await v1Models(await keyOf(student))).toEqual(['gpt-4o-mini']);
  expect(await keysPageModels(student)).toEqual(['gpt-4o-mini']);
  // Someone in no group follows Everyone, which allows every model.
  expect(await picker(outsider)).toEqual(expect.arrayContaining(['gpt-4o-mini', 'gpt-4o']));
  expect(await v1Models(await keyOf(outsider))).toEqual(expect.arrayContaining(['gpt-4o', 'text-embedding-3-small']));
  expect(await keysPageModels(outsider)).toEqual(expect.arrayContaining(['gpt-4o', 'text-embedding-3-small']));
});

test('a turn and a /v1 call for a model the groups do not allow: 403 saying so, nothing held, the model never called', async () => {
  const student = await member();
  const { name } = await group({ models: ['gpt-4o-mini'], pricePercent: 100 }, [student]);
  const calls = fake.requests.length;
  const page = await send(student, 'gpt-4o');
  expect(page.status).toBe(403);
  expect(page.text).toContain('This model is not available to you');
  expect(page.text).toContain(name);
  const plain = await post(student, '/send', { ...(await composer(student)), model: 'gpt-4o' }, false);
  expect(plain.status).toBe(403);
  expect(plain.text).toContain(`Your groups: ${name}`);
  const key = await keyOf(student);
  const refused = await v1Refusal(key, 'gpt-4o');
  expect(refused.status).toBe(403);
  expect(refused.code).toBe('model_not_allowed');
  await expect(client(key).models.retrieve('gpt-4o')).rejects.toMatchObject({ status: 403 });
  await expect(client(key).embeddings.create({ model: 'text-embedding-3-small', input: 'hi' })).rejects.toMatchObject({ status: 403, code: 'model_not_allowed' });
  expect(await db(srv).holds(student)).toEqual([]);
  expect(fake.requests.length).toBe(calls);
  // The model it may use still answers.
  expect((await send(student, 'gpt-4o-mini')).status).toBe(200);
  expect(await holdRates(student)).toEqual([{ prompt: 1_000_000, completion: 4_000_000, charge: 10 + 5 * 4, state: 'settled' }]);
});

test('two groups: the union of their models; for each, the lowest percent among those allowing it, named on the pages', async () => {
  const teacher = await member();
  const staff = await group({ models: ['gpt-4o-mini'], pricePercent: 50 }, [teacher]);
  const science = await group({ models: ['gpt-4o-mini', 'gpt-4.1-mini'], pricePercent: 80 }, [teacher]);
  expect((await picker(teacher)).sort()).toEqual(['gpt-4.1-mini', 'gpt-4o-mini']);
  const key = await keyOf(teacher);
  expect((await v1Models(key)).sort()).toEqual(['gpt-4.1-mini', 'gpt-4o-mini']);
  const page = (await teacher.agent.get('/')).text;
  // Beside the textbox, per 1,000 tokens at the price the user pays, naming the group that gives it.
  expect(page).toContain('>GPT-4o mini — 500 / 2,000 per 1K tokens</option>');
  expect(page).toContain(`Per 1K tokens: 500 for the prompt, 2,000 for the answer, from your balance (50% of the list price, as ${staff.name}).`);
  expect(page).toContain(`(80% of the list price, as ${science.name})`);
  const usage = (await teacher.agent.get('/usage')).text;
  expect(usage).toContain(`${staff.name} (you pay 50% of the listed prices)`);
  expect(usage).toContain(`${science.name} (you pay 80% of the listed prices)`);
  fake.script({ kind: 'stream', usage: { prompt_tokens: 10, completion_tokens: 5 } });
  await client(key).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 20 });
  expect(await holdRates(teacher)).toEqual([{ prompt: 500_000, completion: 2_000_000, charge: 5 + 10, state: 'settled' }]);
});

test('a group at 50 percent: the hold and the charge are at half the rates, rounded up', async () => {
  const staff = await member();
  await group({ models: null, pricePercent: 50 }, [staff]);
  // gpt-4.1-mini: 2.666667 and 10.666667 per token; half is 1.3333335 and 5.3333335, rounded up.
  expect((await send(staff, 'gpt-4.1-mini')).status).toBe(200);
  const [hold] = await db(srv).holds(staff);
  expect({ prompt: Number(hold.prompt_rate), completion: Number(hold.completion_rate), cached: Number(hold.cached_rate) })
    .toEqual({ prompt: 1_333_334, completion: 5_333_334, cached: 1_333_334 });
  // Held: the counted prompt and 20 completion tokens at those rates; charged: 10 and 5 at them.
  const prompt = Number(hold.prompt_tokens);
  expect(Number(hold.amount)).toBe(Math.ceil((prompt * 1_333_334 + Number(hold.max_completion) * 5_333_334) / 1_000_000));
  expect(Number(hold.charge)).toBe(Math.ceil((10 * 1_333_334 + 5 * 5_333_334) / 1_000_000)); // 41, where the full price is 81
  expect(Number(hold.charge)).toBe(41);
});

test('the percent changed while a turn runs leaves that turn charged as it was held; the next turn pays the new one', async () => {
  const staff = await member();
  const { id } = await group({ models: null, pricePercent: 50 }, [staff]);
  const { live, gate } = await heldAnswer(srv, fake, staff, { usage: { prompt_tokens: 10, completion_tokens: 5 } }, {
    fields: { ...(await composer(staff)), model: 'gpt-4o-mini', max_tokens: '20' },
  });
  await srv.database.write(setGroupRules, null, id, { models: null, pricePercent: 1000 });
  gate.release();
  await live.done;
  expect(await holdRates(staff)).toEqual([{ prompt: 500_000, completion: 2_000_000, charge: 5 + 10, state: 'settled' }]);
  expect((await send(staff, 'gpt-4o-mini')).status).toBe(200);
  expect((await holdRates(staff))[1]).toEqual({ prompt: 10_000_000, completion: 40_000_000, charge: 100 + 200, state: 'settled' });
});

test('a user in no group follows Everyone: Everyone limited to one model limits them, not the members of a group allowing more', async () => {
  const outsider = await member();
  const insider = await member();
  await group({ models: null, pricePercent: 100 }, [insider]);
  await srv.database.write(setGroupRules, null, await everyoneId(), { models: ['gpt-4o-mini'], pricePercent: 100 });
  expect(await picker(outsider)).toEqual(['gpt-4o-mini']);
  expect(await v1Models(await keyOf(outsider))).toEqual(['gpt-4o-mini']);
  const page = await send(outsider, 'gpt-4o');
  expect(page.status).toBe(403);
  expect(page.text).toContain('Your groups: Everyone');
  expect((await v1Refusal(await keyOf(outsider), 'gpt-4o')).status).toBe(403);
  expect(await db(srv).holds(outsider)).toEqual([]);
  expect(await picker(insider)).toEqual(expect.arrayContaining(['gpt-4o']));
  expect((await send(insider, 'gpt-4o')).status).toBe(200);
});

test('a member removed while their turn runs: the turn finishes on its terms, the next is refused', async () => {
  const student = await member();
  const { id } = await group({ models: ['gpt-4o'], pricePercent: 50 }, [student]);
  await srv.database.write(setGroupRules, null, await everyoneId(), { models: ['gpt-4o-mini'], pricePercent: 100 });
  const { live, gate } = await heldAnswer(srv, fake, student, { usage: { prompt_tokens: 10, completion_tokens: 5 } }, {
    fields: { ...(await composer(student)), model: 'gpt-4o', max_tokens: '20' },
  });
  expect(await srv.database.write(removeMembers, null, id, [student.id])).toEqual([student.id]);
  gate.release();
  await live.done;
  expect(live.status).toBe(200);
  // gpt-4o at half: 16.666667 and 66.666667 per token, halved and rounded up.
  const charge = Math.ceil((10 * 8_333_334 + 5 * 33_333_334) / 1_000_000);
  expect(await holdRates(student)).toEqual([{ prompt: 8_333_334, completion: 33_333_334, charge, state: 'settled' }]);
  const next = await send(student, 'gpt-4o');
  expect(next.status).toBe(403);
  expect((await holdRates(student))).toHaveLength(1);
});
