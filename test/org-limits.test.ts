// Limits an administrator sets (issue 24): per group and per user, tokens per day and per month,
// requests per minute and per hour, answers at once. They count the chat page and every API key
// together; a refusal names the rule, where it comes from and when it lifts, and charges nothing;
// the most generous group wins, a limit set for the user replaces their groups', and a user cannot
// lift them (their own limits only make them stricter). The admin forms and the CLI set them, audited.
import { createKey, generateKey } from '../src/accounts/api-keys';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { addMembers, createGroup, listGroups } from '../src/groups/groups';
import { setGroupLimits, setUserLimits } from '../src/groups/limit-changes';
import { appliedLimitsOf, NO_LIMITS, type Limits } from '../src/ledger/limit-rules';
import { grant } from '../src/ledger/ledger';
import { pruneRequests } from '../src/ledger/org-limits';
import { composer, db, heldAnswer, newUser, post, type User } from './chat-helpers';
import { testDatabaseUrl } from './db-under-test';
import { gate, type FakeUpstream } from './fake-upstream';
import { csrfFrom, ON_POSTGRES, type TestServer } from './helpers';
import { serveOnFake } from './server-on-fake';

let fake: FakeUpstream;
let srv: TestServer;
let admin: User;
serveOnFake({ TURNS_PER_USER: '20' }, (f, s) => ((fake = f), (srv = s)));
beforeAll(async () => {
  admin = await newUser(srv); // the first account is the administrator
});
afterEach(async () => {
  await srv.database.write(setGroupLimits, null, await everyoneId(), NO_LIMITS); // as the migration left it
});

const everyoneId = async () => (await srv.database.read(listGroups)).find((g) => g.builtin)!.id;
const limits = (set: Partial<Limits>): Limits => ({ ...NO_LIMITS, ...set });

let groupSeq = 0;
/** A new group with these limits and these members (made as the operator at the command line). */
async function group(set: Partial<Limits>, members: User[]): Promise<{ id: number; name: string }> {
  const name = `Class ${++groupSeq}`;
  const id = await srv.database.write(createGroup, null, name);
  await srv.database.write(setGroupLimits, null, id, limits(set));
  await srv.database.write(addMembers, null, id, members.map((m) => m.id));
  return { id, name };
}

async function member(): Promise<User> {
  const user = await newUser(srv);
  await grant(srv.database, user.id, 100_000);
  return user;
}

const keyOf = async (user: User) =>
  (await srv.database.write(createKey, user.id, { name: 'laptop', models: null, perDay: null, total: null, expiresAt: null }, generateKey())).key;

/** A /v1 call as any client sends it; the answer's status, headers and body. */
async function v1(key: string, maxTokens = 20) {
  const res = await fetch(`${srv.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], max_tokens: maxTokens }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { error?: { message: string; type: string; code: string; param: null } } };
}

/** A send from the chat page, as htmx posts it. */
async function send(user: User, usage = { prompt_tokens: 10, completion_tokens: 5 }) {
  fake.script({ kind: 'stream', usage });
  return post(user, '/send', { ...(await composer(user)), max_tokens: '20' });
}

const holdCount = async (user: User) => (await db(srv).holds(user)).length;
const groupLimits = (id: number) =>
  srv.sql.get('SELECT tokens_per_day, tokens_per_month, requests_per_minute, requests_per_hour, answers_at_once FROM groups WHERE id = ?', id);

describe('each rule refuses on the page and on /v1, saying which and when it lifts, and charges nothing', () => {
  test('tokens per day (a group\'s): the page says so with 402, /v1 answers 402 with x-should-retry: false', async () => {
    const student = await member();
    const { name } = await group({ tokens_per_day: 50 }, [student]); // a turn of 20 completion tokens holds about 90
    const before = await db(srv).balance(student);
    const page = await send(student);
    expect(page.status).toBe(402);
    expect(page.text).toContain(`Daily limit reached: 0 of the 50 tokens a day you may use (set by the group “${name}”)`);
    expect(page.text).toMatch(/It lifts at midnight \(\S+ time\), in \d+ (hours?|minutes?|seconds?)\./);
    const api = await v1(await keyOf(student));
    expect(api.status).toBe(402);
    expect(api.headers.get('x-should-retry')).toBe('false');
    expect(api.body.error).toMatchObject({ type: 'insufficient_quota', code: 'tokens_per_day_limit_reached', param: null });
    expect(api.body.error!.message).toContain(`The limit of 50 tokens per day of the group "${name}"`);
    expect(await holdCount(student)).toBe(0);
    expect(await db(srv).balance(student)).toBe(before);
    expect(fake.requests).toHaveLength(0);
  });

  test('tokens per month (set for the user by the administrator): refused once what is spent this month leaves too little', async () => {
    const student = await member();
    await srv.database.write(setUserLimits, null, student.id, limits({ tokens_per_month: 150 }));
    // Each turn holds about 90 and is charged 30: they run until what is left does not hold one.
    let refused = await send(student);
    for (let i = 0; i < 6 && refused.status === 200; i++) refused = await send(student);
    expect(refused.status).toBe(402);
    const charged = (await db(srv).holds(student)).reduce((s, h) => s + Number(h.charge), 0);
    expect(charged).toBeGreaterThanOrEqual(60);
    expect(refused.text).toContain(`Monthly limit reached: ${charged} of the 150 tokens a month you may use (set for you by the administrator)`);
    expect(refused.text).toContain('It lifts when the next month begins');
    const api = await v1(await keyOf(student), 100); // at least 32 completion tokens: 128 and the prompt
    expect(api.status).toBe(402);
    expect(api.body.error!.code).toBe('tokens_per_month_limit_reached');
    expect(api.body.error!.message).toContain('set for you by the administrator');
    expect((await db(srv).holds(student)).every((h) => h.state === 'settled')).toBe(true);
    expect(charged).toBeLessThanOrEqual(150);
  });

  test('requests per minute: the page says so with 429; /v1 answers 429 with Retry-After; a page turn and a key count together', async () => {
    const student = await member();
    const { name } = await group({ requests_per_minute: 2 }, [student]);
    const key = await keyOf(student);
    expect((await send(student)).status).toBe(200);
    fake.script({ kind: 'stream', usage: { prompt_tokens: 10, completion_tokens: 5 } });
    expect((await v1(key)).status).toBe(200);
    const page = await send(student);
    expect(page.status).toBe(429);
    expect(page.text).toContain(`Too many requests: at most 2 a minute (set by the group “${name}”), and you made 2 in the last minute`);
    expect(page.text).toMatch(/Try again in \d+ seconds?\./);
    const api = await v1(key);
    expect(api.status).toBe(429);
    expect(api.body.error).toMatchObject({ type: 'rate_limit_error', code: 'requests_per_minute_limit_reached' });
    const retry = Number(api.headers.get('retry-after'));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    expect(await holdCount(student)).toBe(2);
  });

  test('requests per hour: refused after as many holds in the last hour, whatever became of them', async () => {
    const student = await member();
    await group({ requests_per_hour: 1 }, [student]);
    fake.script({ kind: 'error', status: 500 }); // a failed turn still counts as a request
    await post(student, '/send', { ...(await composer(student)), max_tokens: '20' });
    const page = await send(student);
    expect(page.status).toBe(429);
    expect(page.text).toContain('at most 1 an hour');
    const api = await v1(await keyOf(student));
    expect(api.status).toBe(429);
    expect(api.body.error!.code).toBe('requests_per_hour_limit_reached');
    expect(Number(api.headers.get('retry-after'))).toBeGreaterThan(60);
    expect(await holdCount(student)).toBe(1);
  });

  test('requests are logged only for people a request limit applies to, at the reserve, and the sweep forgets them after an hour', async () => {
    const [limited, free] = [await member(), await member()];
    await group({ requests_per_minute: 5 }, [limited]);
    await group({ tokens_per_day: 100_000 }, [free]);
    for (const user of [limited, free]) expect((await send(user)).status).toBe(200);
    const logged = async (user: User) => Number(await srv.sql.value('SELECT count(*) FROM request_log WHERE user_id = ?', user.id));
    expect([await logged(limited), await logged(free)]).toEqual([1, 0]);
    await srv.database.write(pruneRequests, new Date(Date.now() + 3_600_000 + 1000));
    expect(await logged(limited)).toBe(0);
  });

  test('answers at once: a second answer while one runs is refused on the page and on /v1 (429), and lets the next through once it ends', async () => {
    const student = await member();
    const { name } = await group({ answers_at_once: 1 }, [student]);
    const { live, gate: held } = await heldAnswer(srv, fake, student, { usage: { prompt_tokens: 10, completion_tokens: 5 } });
    const page = await post(student, '/send', { ...(await composer(student)), max_tokens: '20' });
    expect(page.status).toBe(429);
    expect(page.text).toContain(`You already have 1 answers running, the most allowed at once (set by the group “${name}”)`);
    const api = await v1(await keyOf(student));
    expect(api.status).toBe(429);
    expect(api.body.error!.code).toBe('answers_at_once_limit_reached');
    expect(api.headers.get('retry-after')).toBe('1');
    held.release();
    await live.done;
    expect((await send(student)).status).toBe(200);
    expect(await holdCount(student)).toBe(2);
  });

  test('the refusal is in Chinese for a Chinese page', async () => {
    const student = await member();
    const { name } = await group({ requests_per_minute: 1 }, [student]);
    expect((await send(student)).status).toBe(200);
    fake.script({ kind: 'stream' });
    const fields = { ...(await composer(student)), max_tokens: '20' };
    const page = await student.agent.post('/send').set('Cookie', 'lang=zh-CN').type('form').set('HX-Request', 'true').send(fields);
    expect(page.status).toBe(429);
    expect(page.text).toContain(`请求过于频繁：每分钟最多 1 次（由“${name}”组设置）`);
  });
});

describe('which limit applies', () => {
  test('two groups: the most generous; a group leaving a field unset means no limit; each named by where it comes from', async () => {
    const teacher = await member();
    const strict = await group({ tokens_per_day: 50, requests_per_hour: 5, answers_at_once: 1 }, [teacher]);
    const loose = await group({ tokens_per_day: 5000, requests_per_hour: 3 }, [teacher]);
    const applied = await srv.database.read(appliedLimitsOf, teacher.id);
    expect(applied).toEqual({
      tokens_per_day: { limit: 5000, group: loose.name }, requests_per_hour: { limit: 5, group: strict.name },
      answers_at_once: null, tokens_per_month: null, requests_per_minute: null,
    });
    expect((await send(teacher)).status).toBe(200); // 50 a day would refuse it
    const usage = (await teacher.agent.get('/usage')).text;
    expect(usage).toContain('Limits set by your organisation');
    expect(usage).toMatch(new RegExp(`Tokens per day</th><td class="num">5,000</td><td>Group ${loose.name}</td>`));
  });

  test('a limit the administrator set for the user replaces their groups\', looser or stricter', async () => {
    const student = await member();
    await group({ tokens_per_day: 50, requests_per_minute: 100 }, [student]);
    await srv.database.write(setUserLimits, null, student.id, limits({ tokens_per_day: 100_000, requests_per_minute: 1 }));
    expect((await send(student)).status).toBe(200); // the group's 50 a day no longer applies
    const page = await send(student);
    expect(page.status).toBe(429);
    expect(page.text).toContain('at most 1 a minute (set for you by the administrator)');
  });

  test('Everyone\'s limits hold people in no group, not members of a group without them', async () => {
    const outsider = await member();
    const insider = await member();
    await group({}, [insider]);
    await srv.database.write(setGroupLimits, null, await everyoneId(), limits({ requests_per_minute: 1 }));
    expect((await send(outsider)).status).toBe(200);
    const refused = await send(outsider);
    expect(refused.status).toBe(429);
    expect(refused.text).toContain('(set by the group “Everyone”)');
    expect((await send(insider)).status).toBe(200);
    expect((await send(insider)).status).toBe(200);
  });

  test('the user cannot lift them: their own limits form changes only their own; their own stricter limit wins', async () => {
    const student = await member();
    await group({ tokens_per_day: 60 }, [student]);
    const page = await student.agent.get('/usage');
    const raise = await student.agent.post('/usage/limits').type('form').send({ _csrf: csrfFrom(page.text), per_message: '', per_day: '1000000' });
    expect(raise.status).toBe(303);
    expect((await send(student)).status).toBe(402); // still the group's 60 a day
    // Nor can they reach the administrator's forms.
    const own = await student.agent.post(`/admin/users/${student.id}/limits`).type('form').send({ _csrf: csrfFrom(page.text), tokens_per_day: '' });
    expect([403, 404]).toContain(own.status);
    expect(await srv.sql.value('SELECT count(*) FROM user_limits WHERE user_id = ?', student.id)).toBe(0);
    // Under a looser organisation limit, their own stricter one refuses, as their own.
    await srv.database.write(setUserLimits, null, student.id, limits({ tokens_per_day: 100_000 }));
    await student.agent.post('/usage/limits').type('form').send({ _csrf: csrfFrom(page.text), per_message: '', per_day: '40' });
    const mine = await send(student);
    expect(mine.status).toBe(422);
    expect(mine.text).toContain('your daily limit of 40 tokens');
    expect(await holdCount(student)).toBe(0);
  });
});

describe('concurrency: calls at once never pass a limit together', () => {
  async function atOnce(key: string, n: number) {
    return Promise.all(Array.from({ length: n }, () => v1(key)));
  }
  /**
   * `n` calls at once whose answers wait at `wait`: opened once `held` of them reached the model
   * and the others were answered (refused), so no hold ends before every call has reserved,
   * however slow the machine. A call held beyond `held` keeps the gate shut 10 s, then fails the count.
   */
  async function atOnceHeld(key: string, n: number, held: number, wait: { release(): void }) {
    let answered = 0;
    const calls = Promise.all(Array.from({ length: n }, () => v1(key).then((a) => { answered++; return a; })));
    for (let i = 0; i < 1000 && !(fake.requests.length >= held && answered >= n - held); i++) await new Promise((r) => setTimeout(r, 10));
    wait.release();
    return calls;
  }

  test('tokens per day: 8 /v1 calls at once under 200 tokens a day: only what fits is held, the rest refused 402', async () => {
    const student = await member();
    await group({ tokens_per_day: 200 }, [student]);
    const key = await keyOf(student);
    const wait = gate();
    fake.script(Array.from({ length: 8 }, () => ({ kind: 'stream' as const, gate: wait, gateAfter: 1, usage: { prompt_tokens: 10, completion_tokens: 5 } })));
    const answers = await atOnceHeld(key, 8, 2, wait);
    const holds = await db(srv).holds(student);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(holds.length);
    expect(answers.filter((a) => a.status === 402).every((a) => a.body.error!.code === 'tokens_per_day_limit_reached')).toBe(true);
    expect(holds.length).toBe(2); // each holds about 90 of the 200
    expect(holds.reduce((s, h) => s + Number(h.amount), 0)).toBeLessThanOrEqual(200);
    expect(holds.reduce((s, h) => s + Number(h.charge), 0)).toBeLessThanOrEqual(200);
  });

  test('answers at once: 8 /v1 calls at once under 3 at once: exactly 3 held, 5 refused 429', async () => {
    const student = await member();
    await group({ answers_at_once: 3 }, [student]);
    const key = await keyOf(student);
    const wait = gate();
    fake.script(Array.from({ length: 8 }, () => ({ kind: 'stream' as const, gate: wait, gateAfter: 1 })));
    const answers = await atOnceHeld(key, 8, 3, wait);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(3);
    expect(answers.filter((a) => a.status === 429 && a.body.error!.code === 'answers_at_once_limit_reached')).toHaveLength(5);
    expect(await holdCount(student)).toBe(3);
  });

  test('requests per minute: 8 /v1 calls at once under 3 a minute: exactly 3 held, 5 refused 429 with Retry-After', async () => {
    const student = await member();
    await group({ requests_per_minute: 3 }, [student]);
    const key = await keyOf(student);
    fake.script(Array.from({ length: 8 }, () => ({ kind: 'stream' as const })));
    const answers = await atOnce(key, 8);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(3);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(5);
    expect(refused.every((a) => a.body.error!.code === 'requests_per_minute_limit_reached' && Number(a.headers.get('retry-after')) >= 1)).toBe(true);
    expect(await holdCount(student)).toBe(3);
  });
});

describe('the admin forms', () => {
  const audits = (action: string) =>
    srv.sql.all<{ actor: number | null; target: number | null; detail: string }>('SELECT actor_id AS actor, target_user_id AS target, detail FROM admin_audit WHERE action = ? ORDER BY id', action);
  async function form(url: string, page: string, fields: Record<string, string>) {
    const _csrf = csrfFrom((await admin.agent.get(page)).text);
    return admin.agent.post(url).type('form').send({ _csrf, ...fields });
  }
  const blank = { tokens_per_day: '', tokens_per_month: '', requests_per_minute: '', requests_per_hour: '', answers_at_once: '' };

  test('a group\'s limits: saved, audited, shown again; bad values are 422 tied to their fields and change nothing', async () => {
    const { id, name } = await group({}, []);
    const page = `/admin/groups/${id}`;
    expect((await admin.agent.get(page)).text).toContain('<h2 id="limits-title">Limits</h2>');
    const saved = await form(`${page}/limits`, page, { ...blank, tokens_per_day: '5,000', requests_per_minute: '10', answers_at_once: '2' });
    expect(saved.status).toBe(303);
    expect(saved.headers.location).toBe(`${page}?limits=saved#limits`);
    expect(Object.values((await groupLimits(id))!).map((v) => (v === null ? null : Number(v)))).toEqual([5000, null, 10, null, 2]);
    const shown = (await admin.agent.get(`${page}?limits=saved`)).text;
    expect(shown).toContain('The limits were saved.');
    expect(shown).toMatch(/name="tokens_per_day" type="text" autocomplete="off"\s+value="5000"/);
    const audit = await audits('group_limits');
    expect(JSON.parse(audit.at(-1)!.detail)).toEqual({ group: name, tokens_per_day: 5000, tokens_per_month: null, requests_per_minute: 10, requests_per_hour: null, answers_at_once: 2 });
    expect(audit.at(-1)!.actor).toBe(admin.id);
    const bad = await form(`${page}/limits`, page, { ...blank, tokens_per_day: 'lots', answers_at_once: '0', requests_per_hour: '7' });
    expect(bad.status).toBe(422);
    expect(bad.text).toContain('aria-describedby="tokens_per_day-hint tokens_per_day-error"');
    expect(bad.text).toContain('<p class="error" id="answers_at_once-error">A whole number from 1 to 1,000,000,000,000, or empty for no limit.</p>');
    expect(bad.text).not.toContain('id="requests_per_hour-error"');
    expect(bad.text).toMatch(/name="tokens_per_day" type="text" autocomplete="off"\s+value="lots"/);
    expect(Object.values((await groupLimits(id))!).map((v) => (v === null ? null : Number(v)))).toEqual([5000, null, 10, null, 2]);
    expect(await audits('group_limits')).toHaveLength(audit.length);
    // Everyone has the form too; an unknown group is 404.
    expect((await admin.agent.get(`/admin/groups/${await everyoneId()}`)).text).toContain('action="/admin/groups/' + (await everyoneId()) + '/limits"');
    expect((await form('/admin/groups/999999/limits', page, blank)).status).toBe(404);
  });

  test('a user\'s limits: saved, audited, and the limits that apply shown with where each comes from', async () => {
    const student = await member();
    const { name } = await group({ tokens_per_day: 100, requests_per_hour: 20 }, [student]);
    const page = `/admin/users/${student.id}`;
    const before = (await admin.agent.get(page)).text;
    expect(before).toContain('Limits set by the administrator');
    expect(before).toMatch(new RegExp(`Tokens per day</th><td class="num">100</td><td>Group ${name}</td>`));
    const saved = await form(`${page}/limits`, page, { ...blank, tokens_per_day: '300', answers_at_once: '1' });
    expect(saved.status).toBe(303);
    const after = (await admin.agent.get(`${page}?limits=saved`)).text;
    expect(after).toMatch(/Tokens per day<\/th><td class="num">300<\/td><td>Set by the administrator for this user<\/td>/);
    expect(after).toMatch(new RegExp(`Requests per hour</th><td class="num">20</td><td>Group ${name}</td>`));
    expect(after).toMatch(/Tokens per month<\/th><td class="num">No limit<\/td>/);
    const audit = (await audits('user_limits')).at(-1)!;
    expect(audit).toMatchObject({ actor: admin.id, target: student.id });
    expect(JSON.parse(audit.detail)).toMatchObject({ tokens_per_day: 300, answers_at_once: 1, requests_per_hour: null });
    const bad = await form(`${page}/limits`, page, { ...blank, requests_per_minute: '-3' });
    expect(bad.status).toBe(422);
    expect(bad.text).toContain('id="requests_per_minute-error"');
    expect(Number(await srv.sql.value('SELECT tokens_per_day FROM user_limits WHERE user_id = ?', student.id))).toBe(300);
    expect(await srv.sql.value('SELECT requests_per_minute FROM user_limits WHERE user_id = ?', student.id)).toBeNull();
    // The user sees them on their usage page, read-only (no form posts there).
    const usage = (await student.agent.get('/usage')).text;
    expect(usage).toMatch(/Tokens per day<\/th><td class="num">300<\/td><td>Set for you by the administrator<\/td>/);
    expect(usage).not.toContain('/limits" novalidate>\n    <input type="hidden" name="_csrf"'.replace('/limits', '/admin'));
  });

  test('nobody but an administrator reaches the forms', async () => {
    const student = await member();
    const { id } = await group({}, [student]);
    const _csrf = csrfFrom((await student.agent.get('/usage')).text);
    expect([403, 404]).toContain((await student.agent.post(`/admin/groups/${id}/limits`).type('form').send({ _csrf, tokens_per_day: '1' })).status);
    expect([403, 404]).toContain((await student.agent.post(`/admin/users/${student.id}/limits`).type('form').send({ _csrf, tokens_per_day: '1' })).status);
    expect(await groupLimits(id)).toEqual({ tokens_per_day: null, tokens_per_month: null, requests_per_minute: null, requests_per_hour: null, answers_at_once: null });
  });
});

describe('tokenchat limits', () => {
  const CLI = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
  async function cliEnv(): Promise<Record<string, string>> {
    if (!ON_POSTGRES) return { DATA_DIR: srv.dataDir };
    const url = new URL(testDatabaseUrl());
    url.searchParams.set('options', `-c search_path=${await srv.sql.value<string>('SELECT current_schema()')}`);
    return { DATA_DIR: srv.dataDir, DATABASE_URL: url.toString(), SESSION_SECRET: 'test-secret-test-secret-test-secret-1234' };
  }
  async function tokenchat(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const env = { PATH: process.env.PATH!, ...(await cliEnv()) };
    return new Promise((resolve) => {
      execFile('node', [CLI, ...args], { env }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    });
  }

  test('limits set --group / --user and limits show, audited as the command line; bad values refused naming the option', async () => {
    const student = await member();
    const { name, id } = await group({}, [student]);
    const username = await srv.sql.value<string>('SELECT username FROM users WHERE id = ?', student.id);
    const set = await tokenchat(['limits', 'set', '--group', name, '--tokens-per-day', '1000', '--answers-at-once', '2']);
    expect(set).toMatchObject({ code: 0, stdout: `${name}: tokens per day: 1000; tokens per month: none; requests per minute: none; requests per hour: none; answers at once: 2\n` });
    // What is not given stays; none clears.
    await tokenchat(['limits', 'set', '--group', name, '--answers-at-once', 'none', '--requests-per-hour', '30']);
    expect(Object.values((await groupLimits(id))!).map((v) => (v === null ? null : Number(v)))).toEqual([1000, null, null, 30, null]);
    expect((await tokenchat(['limits', 'set', '--user', username!, '--tokens-per-month', '5000'])).code).toBe(0);
    const show = await tokenchat(['limits', 'show', '--user', username!]);
    expect(show.stdout).toBe(`limits of ${username}:\n  tokens per day: 1000 (group ${name})\n  tokens per month: 5000 (set for this user by the administrator)\n` +
      `  requests per minute: none\n  requests per hour: 30 (group ${name})\n  answers at once: none\n`);
    const audit = await srv.sql.all('SELECT actor_id AS actor, action, target_user_id AS target FROM admin_audit WHERE action IN (\'group_limits\', \'user_limits\') AND (target_user_id = ? OR detail LIKE ?) ORDER BY id', student.id, `%"group":"${name}"%`);
    expect(audit.map((a) => [a.actor, a.action, a.target === null ? null : Number(a.target)])).toEqual([...Array.from({ length: 3 }, () => [null, 'group_limits', null]), [null, 'user_limits', student.id]]); // the helper's set, then the two above
    const bad = await tokenchat(['limits', 'set', '--group', name, '--tokens-per-day', '0']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--tokens-per-day must be a whole number from 1 to 1000000000000 or "none", not "0"');
    expect((await tokenchat(['limits', 'set', '--tokens-per-day', '5'])).stderr).toContain('give --group <name> or --user <name>');
    expect((await tokenchat(['limits', 'set', '--group', 'No such', '--tokens-per-day', '5'])).stderr).toContain('no group named "No such"');
    expect(Object.values((await groupLimits(id))!).map((v) => (v === null ? null : Number(v)))).toEqual([1000, null, null, 30, null]);
  });
});
