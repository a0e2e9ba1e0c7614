// Roster import (issue 25): a CSV pasted on a group's page, a dry run row by row (created, added,
// unchanged, wrong and why), the apply of exactly that plan, generated passwords downloaded once
// and forcing a change at first sign-in, a second import changing nothing, and 1,000 rows.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { member, type Member } from './dashboard-helpers';
import { csrfFrom, login, ON_POSTGRES, startTestServer, tempDir, type Agent, type TestServer } from './helpers';
import { testDatabaseUrl } from './db-under-test';
import { applyRoster, planRoster } from '../src/groups/roster';
import { PasswordHasher } from '../src/accounts/passwords';

let srv: TestServer;
let admin: Member;
beforeAll(async () => {
  srv = await startTestServer({ SIGNUP_BONUS: '100' });
  admin = await member(srv, 'boss');
});
afterAll(() => srv.close());

async function post(agent: Agent, url: string, form: Record<string, string>, page: string) {
  const _csrf = csrfFrom((await agent.get(page)).text);
  return agent.post(url).type('form').send({ _csrf, ...form });
}

async function newGroup(name: string): Promise<number> {
  const res = await post(admin.agent, '/admin/groups', { name }, '/admin/groups');
  expect(res.status).toBe(303);
  return Number(/\/admin\/groups\/(\d+)/.exec(res.headers.location)![1]);
}

const membersOf = async (groupId: number) =>
  (await srv.sql.all<{ username: string }>('SELECT u.username FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = ? ORDER BY u.username', groupId)).map((r) => r.username);
const userCount = async () => Number((await srv.sql.get<{ n: number }>('SELECT count(*) AS n FROM users'))!.n);
const field = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];
const hiddenRoster = (html: string) => /<textarea name="roster" hidden aria-hidden="true">([\s\S]*?)<\/textarea>/.exec(html)?.[1];
const unescape = (s: string) => s.replace(/&#(\d+);/g, (_m, c) => String.fromCharCode(Number(c))).replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>');

/** Checks then applies through the pages, as an admin would: the apply carries what the dry run's page holds. */
async function importThroughPages(groupId: number, roster: string) {
  const page = `/admin/groups/${groupId}`;
  const check = await post(admin.agent, `${page}/roster/check`, { roster }, page);
  expect(check.status).toBe(200);
  const digest = field(check.text, 'digest');
  if (!digest) return { check, apply: undefined };
  const apply = await post(admin.agent, `${page}/roster/apply`, { roster: unescape(hiddenRoster(check.text)!), digest }, page);
  return { check, apply };
}

function csvRows(text: string): string[][] {
  return text.replace(/^\uFEFF/, '').trim().split('\r\n').map((l) => l.split(','));
}

describe('POST /admin/groups/:id/roster/check — the dry run', () => {
  test('says who is created, added, unchanged and which rows are wrong and why, and changes nothing', async () => {
    const id = await newGroup('Class 1');
    await member(srv, 'old_student');
    await member(srv, 'in_already');
    await post(admin.agent, `/admin/groups/${id}/members/add`, { users: String((await srv.sql.get<{ id: number }>("SELECT id FROM users WHERE username = 'in_already'"))!.id) }, `/admin/groups/${id}`);
    const before = await userCount();
    const roster = [
      'username,display name,email,password',
      'alice,Alice Li,alice@school.example,',
      'bob,Bob,,a-strong-password',
      'Old_Student,,,',
      'in_already,,,',
      'x,,,',
      'alice,Alice again,,',
      'carol,Carol,not-an-email,',
      'dave,Dave,,short',
      'bad name,,,',
    ].join('\n');
    const res = await post(admin.agent, `/admin/groups/${id}/roster/check`, { roster }, `/admin/groups/${id}`);
    expect(res.status).toBe(200);
    expect(res.text).toContain('Accounts created: 2');
    expect(res.text).toContain('Existing accounts added to the group: 1');
    expect(res.text).toContain('Already in the group, unchanged: 1');
    expect(res.text).toContain('Rows left out as wrong: 5');
    expect(res.text).toMatch(/<td>2<\/td><td>alice<\/td><td>Created and added \(password generated\)<\/td>/);
    expect(res.text).toMatch(/<td>3<\/td><td>bob<\/td><td>Created and added<\/td>/);
    expect(res.text).toMatch(/<td>4<\/td><td>Old_Student<\/td><td>Added to the group<\/td>/);
    expect(res.text).toMatch(/<td>5<\/td><td>in_already<\/td><td>Unchanged<\/td>/);
    expect(res.text).toContain('Left out: a username has 2 to 32 characters');
    expect(res.text).toContain('Left out: the same username is on an earlier line');
    expect(res.text).toContain('Left out: not an email address');
    expect(res.text).toContain('Left out: a password has 8 to 1024 characters');
    expect(res.text).toContain('Left out: a username has only letters, digits, _ . or -');
    expect(await userCount()).toBe(before);
    expect(await membersOf(id)).toEqual(['in_already']);
  });

  test('a file without the username column, with no rows, or of more than 1,000 people is refused whole with 422', async () => {
    const id = await newGroup('Class 2');
    const page = `/admin/groups/${id}`;
    const noHeader = await post(admin.agent, `${page}/roster/check`, { roster: 'name,mail\nA,a@b.c' }, page);
    expect(noHeader.status).toBe(422);
    expect(noHeader.text).toContain('The first line must name the columns');
    expect(noHeader.text).toMatch(/aria-describedby="roster-hint roster-error"/);
    const empty = await post(admin.agent, `${page}/roster/check`, { roster: 'username\n' }, page);
    expect(empty.status).toBe(422);
    const big = ['username', ...Array.from({ length: 1001 }, (_, i) => `u${i}`)].join('\n');
    const tooMany = await post(admin.agent, `${page}/roster/check`, { roster: big }, page);
    expect(tooMany.status).toBe(422);
    expect(tooMany.text).toContain('At most 1,000 people at a time (this has 1,001)');
  });

  test('names made to look like formulas or markup are shown as text, and a downloaded CSV defuses formulas', async () => {
    const id = await newGroup('Class 3');
    const roster = 'username,display name,email\n"=cmd",x,\n"<b>x</b>",y,\nsafe_one,"=HYPERLINK(""http://evil"")",';
    const { check, apply } = await importThroughPages(id, roster);
    expect(check.text).not.toContain('<b>x</b>');
    expect(check.text).toContain('&lt;b&gt;x&lt;/b&gt;');
    expect(check.text).toContain('=cmd'); // shown as typed, in a cell of text
    expect(apply!.status).toBe(200);
    const sealed = field(apply!.text, 'sealed')!;
    const csv = await post(admin.agent, `/admin/groups/${id}/roster/passwords`, { sealed }, `/admin/groups/${id}`);
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csvRows(csv.text).map((r) => r[0])).toEqual(['username', 'safe_one']);
    const stored = await srv.sql.get<{ display_name: string }>("SELECT display_name FROM users WHERE username = 'safe_one'");
    expect(stored!.display_name).toBe('=HYPERLINK("http://evil")'); // kept as given; escaped wherever shown
  });
});

describe('POST /admin/groups/:id/roster/apply', () => {
  test('applies the dry run, gives generated passwords once as a CSV that forces a change, and a second import changes nothing', async () => {
    const id = await newGroup('Class 4');
    await member(srv, 'existing4');
    const roster = 'username,display name,email,password\nstu_a,Student A,a@school.example,\nstu_b,Student B,,\nstu_c,Student C,,given-password-1\nexisting4,,,\nz,,,';
    const { check, apply } = await importThroughPages(id, roster);
    expect(check.text).toContain('Apply: create 3, add 1');
    expect(apply!.status).toBe(200);
    expect(apply!.text).toContain('Imported: 3 created, 1 added, 0 unchanged, 1 left out.');
    expect(apply!.text).not.toMatch(/given-password-1/);
    expect(await membersOf(id)).toEqual(['existing4', 'stu_a', 'stu_b', 'stu_c']);
    const stuA = await srv.sql.get<Record<string, unknown>>("SELECT display_name, email, must_change_password, password_hash, role FROM users WHERE username = 'stu_a'");
    expect(stuA).toMatchObject({ display_name: 'Student A', email: 'a@school.example', role: 'user' });
    expect(Number(stuA!.must_change_password)).toBe(1);
    expect(String(stuA!.password_hash)).toMatch(/^\$argon2id\$/);
    const stuC = await srv.sql.get<{ must_change_password: number }>("SELECT must_change_password FROM users WHERE username = 'stu_c'");
    expect(Number(stuC!.must_change_password)).toBe(0);
    // Each new account has its balance and sign-up bonus, and every change is audited.
    const bal = await srv.sql.get<{ balance: number }>("SELECT b.balance FROM balances b JOIN users u ON u.id = b.user_id WHERE u.username = 'stu_b'");
    expect(Number(bal!.balance)).toBe(100);
    const audited = async (action: string) => Number((await srv.sql.get<{ n: number }>("SELECT count(*) AS n FROM admin_audit WHERE action = ? AND actor_id = ? AND detail LIKE '%\"Class 4\"%'", action, admin.id))!.n);
    expect([await audited('user_create'), await audited('group_add'), await audited('roster_import')]).toEqual([3, 4, 1]);

    const csv = await post(admin.agent, `/admin/groups/${id}/roster/passwords`, { sealed: field(apply!.text, 'sealed')! }, `/admin/groups/${id}`);
    const rows = csvRows(csv.text);
    expect(rows[0]).toEqual(['username', 'password']);
    expect(rows.slice(1).map((r) => r[0])).toEqual(['stu_a', 'stu_b']);
    const password = rows[1]![1]!;
    expect(password).toHaveLength(16);
    // Not kept anywhere in clear.
    expect(JSON.stringify(await srv.sql.all('SELECT * FROM users'))).not.toContain(password);
    expect(JSON.stringify(await srv.sql.all('SELECT * FROM admin_audit'))).not.toContain(password);

    // The generated password works, and the first page is the change-password page.
    const student = srv.agent();
    const signIn = await login(student, 'stu_a', password);
    expect(signIn.status).toBe(303);
    const home = await student.get('/');
    expect(home.status).toBe(303);
    expect(home.headers.location).toBe('/account/password');
    expect((await student.get('/account/password')).text).toContain('Choose a new password before going on');

    // Importing the same file again: everyone unchanged, nothing to apply, nothing changed.
    const users = await userCount();
    const again = await post(admin.agent, `/admin/groups/${id}/roster/check`, { roster }, `/admin/groups/${id}`);
    expect(again.text).toContain('Accounts created: 0');
    expect(again.text).toContain('Existing accounts added to the group: 0');
    expect(again.text).toContain('Already in the group, unchanged: 4');
    expect(again.text).toContain('Nothing to apply');
    expect(field(again.text, 'digest')).toBeUndefined();
    expect(await userCount()).toBe(users);
  });

  test('an apply whose plan no longer matches the dry run (an account made meanwhile, an edited file) is refused with 409 and changes nothing', async () => {
    const id = await newGroup('Class 5');
    const page = `/admin/groups/${id}`;
    const roster = 'username\nlate_1\nlate_2';
    const check = await post(admin.agent, `${page}/roster/check`, { roster }, page);
    const digest = field(check.text, 'digest')!;
    const edited = await post(admin.agent, `${page}/roster/apply`, { roster: roster + '\nlate_3', digest }, page);
    expect(edited.status).toBe(409);
    expect(edited.text).toContain('changed since the dry run');
    await member(srv, 'late_2');
    const before = await userCount();
    const raced = await post(admin.agent, `${page}/roster/apply`, { roster, digest }, page);
    expect(raced.status).toBe(409);
    expect(await userCount()).toBe(before);
    expect(await membersOf(id)).toEqual([]);
  });

  test('the passwords download is given once, and refused to another admin and to a forged seal', async () => {
    const id = await newGroup('Class 6');
    const { apply } = await importThroughPages(id, 'username\nsix_a');
    const sealed = field(apply!.text, 'sealed')!;
    const forged = await post(admin.agent, `/admin/groups/${id}/roster/passwords`, { sealed: sealed.slice(0, -4) + 'AAAA' }, `/admin/groups/${id}`);
    expect(forged.status).toBe(410);
    const second = await member(srv, 'second_admin');
    await srv.sql.run("UPDATE users SET role = 'admin' WHERE id = ?", second.id);
    const otherAdmin = await post(second.agent, `/admin/groups/${id}/roster/passwords`, { sealed }, `/admin/groups/${id}`);
    expect(otherAdmin.status).toBe(410);
    const mine = await post(admin.agent, `/admin/groups/${id}/roster/passwords`, { sealed }, `/admin/groups/${id}`);
    expect(mine.status).toBe(200);
    // Once: the same seal again is refused, even to the admin it was made for.
    const again = await post(admin.agent, `/admin/groups/${id}/roster/passwords`, { sealed }, `/admin/groups/${id}`);
    expect(again.status).toBe(410);
    expect(again.text).toContain('downloaded once already');
    const otherGroup = await newGroup('Class 7');
    const elsewhere = await post(admin.agent, `/admin/groups/${otherGroup}/roster/passwords`, { sealed }, `/admin/groups/${otherGroup}`);
    expect(elsewhere.status).toBe(410);
  });

  test('a member cannot reach the import (404)', async () => {
    const id = await newGroup('Class 8');
    const m = await member(srv, 'plain_member');
    const res = await post(m.agent, `/admin/groups/${id}/roster/check`, { roster: 'username\nx1' }, '/usage');
    expect(res.status).toBe(404);
  });
});

describe('1,000 rows', () => {
  test('a roster of 1,000 people with generated passwords is imported whole, and again changes nothing', async () => {
    const id = await newGroup('Year 2026');
    const roster = ['username,display name,email', ...Array.from({ length: 1000 }, (_, i) => `y26_${i},Student ${i},s${i}@school.example`)].join('\n');
    const hasher = new PasswordHasher(4, 0);
    const result = await applyRoster(srv.database, hasher, { actorId: null, groupId: id, text: roster, expected: null, signupBonus: 0, concurrency: 4 });
    expect(result.plan.counts).toEqual({ create: 1000, add: 0, unchanged: 0, wrong: 0 });
    expect(result.generated).toHaveLength(1000);
    expect(new Set(result.generated.map((g) => g.password)).size).toBe(1000);
    expect((await membersOf(id)).length).toBe(1000);
    const again = await planRoster(srv.database, id, roster);
    expect(again.counts).toEqual({ create: 0, add: 0, unchanged: 1000, wrong: 0 });
  }, 120_000);
});

describe('tokenchat group import', () => {
  const CLI = path.join(__dirname, '..', 'dist', 'cli', 'main.js');

  /** The CLI on the server's own database (on PostgreSQL, its schema named in the search_path). */
  async function cliEnv(): Promise<Record<string, string>> {
    const env: Record<string, string> = { PATH: process.env.PATH!, DATA_DIR: srv.dataDir, LOG_LEVEL: 'silent', HASH_CONCURRENCY: '2' };
    if (!ON_POSTGRES) return env;
    const url = new URL(testDatabaseUrl());
    url.searchParams.set('options', `-c search_path=${await srv.sql.value<string>('SELECT current_schema()')}`);
    return { ...env, DATABASE_URL: url.toString(), SESSION_SECRET: 'test-secret-test-secret-test-secret-1234' };
  }

  function tokenchat(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile('node', [CLI, ...args], { env }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    });
  }

  test('a dry run changes nothing; --apply imports and writes generated passwords to a new 0600 file only; again, all unchanged', async () => {
    const id = await newGroup('CLI class');
    const dir = tempDir();
    const file = path.join(dir, 'class.csv');
    fs.writeFileSync(file, 'username,display name,email,password\ncli_a,A,,\ncli_b,B,,chosen-password-1\nq,,,\n');
    const env = await cliEnv();
    const users = await userCount();
    const dry = await tokenchat(['group', 'import', 'CLI class', file], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('line 2\tcli_a\tcreate (password generated)');
    expect(dry.stdout).toContain('line 4\tq\twrong: a username has 2 to 32 characters');
    expect(dry.stdout).toContain('2 to create, 0 to add, 0 unchanged, 1 wrong');
    expect(await userCount()).toBe(users);
    const apply = await tokenchat(['group', 'import', 'CLI class', file, '--apply'], env);
    expect(apply.code).toBe(0);
    expect(apply.stdout).toContain('2 created, 0 added, 0 unchanged, 1 wrong rows left out');
    expect(await membersOf(id)).toEqual(['cli_a', 'cli_b']);
    const out = path.join(dir, 'class-passwords.csv');
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    const rows = csvRows(fs.readFileSync(out, 'utf8'));
    expect(rows.map((r) => r[0])).toEqual(['username', 'cli_a']);
    expect(apply.stdout + apply.stderr).not.toContain(rows[1]![1]!);
    expect((await login(srv.agent(), 'cli_a', rows[1]![1]!)).status).toBe(303);
    const again = await tokenchat(['group', 'import', 'CLI class', file, '--apply', '--passwords', path.join(dir, 'again.csv')], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('0 created, 0 added, 2 unchanged, 1 wrong rows left out');
    expect(fs.existsSync(path.join(dir, 'again.csv'))).toBe(false);
    const missing = await tokenchat(['group', 'import', 'No such group', file], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no group named "No such group"');
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
