// The allowance on the pages and /v1 (issue 24): the header shows both buckets, a turn and a /v1
// call spend the allowance before own tokens, the hold names the group whose rule priced it, and a
// member removed while their answer runs finishes on the terms they started with.
import OpenAI from 'openai';
import { createKey, generateKey } from '../src/accounts/api-keys';
import { setAllowance } from '../src/groups/allowances';
import { addMembers, createGroup, removeMembers, setGroupRules } from '../src/groups/groups';
import { allowanceLeft } from '../src/ledger/buckets';
import { balanceOf, grant } from '../src/ledger/ledger';
import { composer, db, heldAnswer, newUser, post, type User } from './chat-helpers';
import type { FakeUpstream } from './fake-upstream';
import type { TestServer } from './helpers';
import { serveOnFake } from './server-on-fake';

let fake: FakeUpstream;
let srv: TestServer;
serveOnFake({}, (f, s) => ((fake = f), (srv = s)));

let seq = 0;
/** A student with 500 own tokens in a new class giving 1,000 a month, at `percent` of the price. */
async function student(percent = 100): Promise<{ user: User; groupId: number; name: string }> {
  const user = await newUser(srv);
  await srv.sql.run('UPDATE balances SET balance = 0 WHERE user_id = ?', user.id); // no sign-up bonus here: 500 own tokens
  await srv.sql.run('DELETE FROM ledger WHERE user_id = ?', user.id);
  await grant(srv.database, user.id, 500);
  const name = `Class A${++seq}`;
  const groupId = await srv.database.write(createGroup, null, name);
  await srv.database.write(setGroupRules, null, groupId, { models: null, pricePercent: percent });
  await srv.database.write(addMembers, null, groupId, [user.id]);
  await srv.database.write(setAllowance, null, groupId, { amount: 1000, period: 'month', mode: 'reset', cap: null, join: 'full' }, 'now');
  return { user, groupId, name };
}

const badge = async (user: User) => /id="balance"[^>]*>([^<]*)</.exec((await user.agent.get('/')).text)![1]!.trim();

test('the header shows both buckets; a page turn spends the allowance, not own tokens, and its hold names the group', async () => {
  const { user, name } = await student();
  expect(await badge(user)).toBe('Allowance 1,000 · own tokens 500');
  fake.script({ kind: 'stream', usage: { prompt_tokens: 10, completion_tokens: 5 } });
  const res = await post(user, '/send', { ...(await composer(user)), model: 'gpt-4o-mini', max_tokens: '20' });
  expect(res.status).toBe(200);
  const [hold] = await db(srv).holds(user);
  const charge = Number(hold.charge);
  expect(charge).toBeGreaterThan(0);
  expect(await srv.database.read(balanceOf, user.id)).toBe(500);
  expect(await srv.database.read(allowanceLeft, user.id, new Date())).toBe(1000 - charge);
  expect(hold.rule_group).toBe(name);
  expect(await badge(user)).toBe(`Allowance ${(1000 - charge).toLocaleString('en')} · own tokens 500`);
});

test('a /v1 call spends the allowance first and the rest from own tokens, at the group\'s percent', async () => {
  const { user } = await student(50);
  const { key } = await srv.database.write(createKey, user.id, { name: 'laptop', models: null, perDay: null, total: null, expiresAt: null }, generateKey());
  fake.script({ kind: 'stream', usage: { prompt_tokens: 10, completion_tokens: 30 } });
  const client = new OpenAI({ apiKey: key, baseURL: `${srv.url}/v1`, maxRetries: 0 });
  await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 100 });
  const [hold] = await db(srv).holds(user);
  // gpt-4o at half price: 8.333334 and 33.333334 per token: 1,084 for 10 and 30: the allowance's 1,000, then 84 own tokens.
  expect(Number(hold.charge)).toBe(1084);
  expect(await srv.database.read(allowanceLeft, user.id, new Date())).toBe(0);
  expect(await srv.database.read(balanceOf, user.id)).toBe(500 - 84);
});

test('a member removed while their answer runs: it finishes on its terms; what it did not use of the allowance goes, not to own tokens', async () => {
  const { user, groupId } = await student();
  const { live, gate } = await heldAnswer(srv, fake, user, { usage: { prompt_tokens: 10, completion_tokens: 5 } }, {
    fields: { ...(await composer(user)), model: 'gpt-4o-mini', max_tokens: '20' },
  });
  await srv.database.write(removeMembers, null, groupId, [user.id]);
  gate.release();
  await live.done;
  expect(live.status).toBe(200);
  const [hold] = await db(srv).holds(user);
  expect(hold.state).toBe('settled');
  expect(await srv.database.read(balanceOf, user.id)).toBe(500);
  // Given back to the bucket, then emptied at the next turn (or sweep): nothing of it is spent again.
  fake.script({ kind: 'stream', usage: { prompt_tokens: 10, completion_tokens: 5 } });
  expect((await post(user, '/send', { ...(await composer(user)), model: 'gpt-4o-mini', max_tokens: '20' })).status).toBe(200);
  expect(await srv.database.read(allowanceLeft, user.id, new Date())).toBe(0);
  const second = (await db(srv).holds(user))[1]!;
  expect(await srv.database.read(balanceOf, user.id)).toBe(500 - Number(second.charge));
});
