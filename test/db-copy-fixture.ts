// A SQLite server's database with a row in every table, for `tokenchat db copy`'s test: a school
// whose class group has a monthly allowance a student spent from on the page and through /v1, with
// limits, an invite used, an OIDC link and mapping, admin and user keys, a share, presets, an image
// attached, a kept /v1 response and a paid order. Money moves through the domain functions, so
// `ledger verify` holds on the source before the copy is ever asked to keep it.
import request from 'supertest';
import { createKey, generateKey } from '../src/accounts/api-keys';
import { createBatch } from '../src/admin/actions';
import { createAdminKey } from '../src/admin/api-keys';
import { publishPreset, createOwnPreset } from '../src/chat/presets';
import { createShare } from '../src/chat/shares';
import { setAllowance } from '../src/groups/allowances';
import { addMembers, createGroup } from '../src/groups/groups';
import { setUserLimits } from '../src/groups/limit-changes';
import { grant } from '../src/ledger/ledger';
import { NO_LIMITS } from '../src/ledger/limit-rules';
import { setSpendLimits } from '../src/ledger/spend-limits';
import { adminLink, addMapping } from '../src/oidc/admin';
import type { OidcProviderSettings } from '../src/oidc-settings';
import { createInvite, generateInviteToken, useInvite } from '../src/onboarding/invites';
import { attachSession, createOrder, handleEvent } from '../src/payments/orders';
import { rollUp, ROLLUP_LAG_MS } from '../src/reports/usage-rollup';
import type { RunningServer } from '../src/server';
import { csrfFrom, register, sqlOf, type Agent } from './helpers';

/** Every byte value, twice: a BLOB that a text conversion anywhere on the way would change. */
export const BLOB = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256))]);

const provider = { id: 'school', issuer: 'https://id.example', clientId: 'c', clientSecret: undefined, scopes: 'openid', label: 'School' } as unknown as OidcProviderSettings;

/** One page turn, sent as a form without JavaScript. */
export async function pageTurn(agent: Agent, message: string): Promise<void> {
  const page = await agent.get('/');
  const turnKey = /id="turn-key" name="[^"]+" value="([^"]*)"/.exec(page.text)![1]!;
  const sent = await agent.post('/send').type('form').send({ _csrf: csrfFrom(page.text), turn_key: turnKey, conversation_id: '', message, system: '', model: 'gpt-4o-mini', temperature: '', max_tokens: '' });
  if (sent.status !== 303) throw new Error(`a turn answered ${sent.status}`);
}

export interface Filled {
  studentId: number;
  groupId: number;
}

export async function fillEveryTable(server: RunningServer): Promise<Filled> {
  const db = server.database;
  const sql = sqlOf(db);
  const admin = request.agent(server.url);
  const student = request.agent(server.url);
  if ((await register(admin, 'boss')).status !== 303 || (await register(student, 'student')).status !== 303) throw new Error('registration failed');
  const bossId = Number(await sql.value("SELECT id FROM users WHERE username = 'boss'"));
  const studentId = Number(await sql.value("SELECT id FROM users WHERE username = 'student'"));
  await sql.run("UPDATE users SET role = 'admin' WHERE id = ?", bossId);

  // The class: a group with a monthly allowance, the student in it, limits from above and their own.
  const groupId = await db.write(createGroup, bossId, 'Class 7A');
  await db.write(addMembers, bossId, groupId, [studentId]);
  await db.write(setAllowance, bossId, groupId, { amount: 5000, period: 'month', mode: 'reset', cap: null, join: 'full' }, 'now');
  await db.write(setUserLimits, bossId, studentId, { ...NO_LIMITS, requests_per_hour: 500 }); // request_log rows from here on
  await db.write(setSpendLimits, studentId, { perMessage: 4000, perDay: null });

  // Own tokens: a grant and a redeemed code.
  await grant(db, studentId, 500, { actorId: bossId, note: 'welcome' });
  const { codes: [code] } = await createBatch(db, bossId, { tokens: 250, count: 2, note: 'term start' });
  const recharge = await student.get('/recharge');
  await student.post('/recharge').type('form').send({ _csrf: csrfFrom(recharge.text), code });

  // Spending: two page turns (from the allowance first), an image, a /v1 response kept.
  await pageTurn(student, 'First question');
  await pageTurn(student, 'Second question');
  const chat = await student.get('/');
  const attached = await student.post('/attachments').set('HX-Request', 'true').field('_csrf', csrfFrom(chat.text)).attach('file', BLOB, { filename: 'leaf.png', contentType: 'image/png' });
  if (attached.status !== 200) throw new Error(`attaching answered ${attached.status}`);
  const key = generateKey();
  await db.write(createKey, studentId, { name: 'laptop', models: null, perDay: null, total: null, expiresAt: null }, key);
  const answered = await request(server.url).post('/v1/responses').set('Authorization', `Bearer ${key}`).send({ model: 'gpt-4o-mini', input: 'Hello' });
  if (answered.status !== 200) throw new Error(`/v1/responses answered ${answered.status}: ${answered.text}`);

  // What the school set up around it.
  const conversationId = Number(await sql.value('SELECT id FROM conversations WHERE user_id = ? ORDER BY id LIMIT 1', studentId));
  await db.write(createShare, studentId, conversationId, 'Student', 'shareToken0123456789ab');
  await db.write(createOwnPreset, studentId, { kind: 'prompt', name: 'Summarise', body: 'Summarise this.' });
  await db.write(publishPreset, bossId, { kind: 'system', name: 'Tutor', body: 'Be a patient tutor.', groupId });
  await db.write(createAdminKey, bossId, { name: 'roster sync', scope: 'read', days: 30 }, 'tcadmin-0123456789abcdef0123456789', new Date());
  const invite = generateInviteToken();
  await db.write(createInvite, bossId, { uses: 5, expiresAt: new Date(Date.now() + 86_400_000), groupIds: [groupId], note: 'Class 7A' }, invite);
  await db.write(useInvite, invite, studentId);
  await db.write(adminLink, bossId, provider, 'student', 'subject-42');
  await db.write(addMapping, bossId, provider, 'class-7a', groupId);

  // A paid order, credited from its (verified) event.
  const order = await db.write(createOrder, studentId, { id: 'small', name: { en: 'Small' }, tokens: 1000, amount: 500, currency: 'usd', active: true }, 'Small', 'form-1', new Date(Date.now() + 3_600_000).toISOString());
  await db.write(attachSession, order.id, { id: 'cs_test_1', url: 'https://checkout.example/cs_test_1' });
  const paid = { id: 'cs_test_1', amount_total: 500, currency: 'usd', client_reference_id: String(studentId), metadata: { order_id: String(order.id) }, payment_status: 'paid', payment_intent: 'pi_1' };
  if ((await db.write(handleEvent, { id: 'evt_1', type: 'checkout.session.completed', data: { object: paid } })) !== 'credited') throw new Error('the order was not credited');

  // The usage rollup brought up to now, as the server's sweep does a minute later.
  await rollUp(db, new Date(Date.now() + ROLLUP_LAG_MS));
  return { studentId, groupId };
}
