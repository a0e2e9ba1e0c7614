import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { openStore, readMigrations } from '../src/db';
import { readPgMigrations } from '../src/storage/postgres/store';
import { dropSchema, newSchema, testDatabaseUrl } from './db-under-test';
import { CORPORATE } from './fixtures/cookbook';
import { ON_POSTGRES, sqlOf, tempDir, type Sql } from './helpers';

const CLI = path.join(__dirname, '..', 'dist', 'cli', 'main.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function tokenchat(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile('node', [CLI, ...args], { env: { PATH: process.env.PATH!, ...opts.env } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin!.end(opts.input ?? '');
  });
}

/** A database for the CLI: a data directory and, on PostgreSQL, an empty schema of its own. */
interface Fixture {
  dataDir: string;
  env: Record<string, string>;
  schema?: string;
}

/** The database the current test's commands and withSql use. */
let dataDir: string;
let env: Record<string, string>;
/** On PostgreSQL, the schema the CLI's database lives in (one per test, or per sharedDatabase table). */
let schema: string | undefined;

/**
 * The CLI's database on PostgreSQL: the store takes its schema as an option, which the CLI does not
 * give it, so the connection URL names it in the session's search_path (`options=-c search_path=...`,
 * passed through by node-postgres).
 */
function cliDatabaseUrl(name: string): string {
  const url = new URL(testDatabaseUrl());
  url.searchParams.set('options', `-c search_path=${name}`);
  return url.toString();
}

async function newFixture(): Promise<Fixture> {
  const dir = tempDir();
  if (!ON_POSTGRES) return { dataDir: dir, env: { DATA_DIR: dir } };
  const name = newSchema();
  const client = new pg.Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${name}`);
  } finally {
    await client.end();
  }
  return { dataDir: dir, schema: name, env: { DATA_DIR: dir, DATABASE_URL: cliDatabaseUrl(name), SESSION_SECRET: 'test-secret-test-secret-test-secret-1234' } };
}

async function dropFixture(fixture: Fixture): Promise<void> {
  fs.rmSync(fixture.dataDir, { recursive: true, force: true });
  if (fixture.schema) await dropSchema(fixture.schema);
}

const use = (fixture: Fixture) => ({ dataDir, env, schema } = fixture);

let own: Fixture;
beforeEach(async () => use((own = await newFixture())));
afterEach(() => dropFixture(own));

/**
 * For a table of commands that must each fail and change nothing: one database, made by `setup`,
 * for all of the describe's tests (a node process per command makes a fresh one per row slow; each
 * row checks the database is as `setup` left it, so a row that wrongly changed it still fails).
 */
function sharedDatabase(setup: () => Promise<void>): void {
  let shared: Fixture;
  beforeAll(async () => {
    use((shared = await newFixture()));
    await setup();
  });
  afterAll(() => dropFixture(shared));
  beforeEach(() => use(shared));
}

/** Reads or changes the CLI's database directly (the same SQL on both), then closes it. */
async function withSql<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
  const database = openStore({ dataDir, databaseUrl: schema ? testDatabaseUrl() : undefined, databasePoolSize: 1, sessionIdleMs: 60_000 }, schema);
  try {
    return await fn(sqlOf(database));
  } finally {
    await database.close();
  }
}

test('tokenchat --help lists the commands', async () => {
  const { code, stdout } = await tokenchat(['--help']);
  expect(code).toBe(0);
  for (const cmd of ['serve', 'migrate', 'user add <name> [--admin]', 'user list', 'user disable <name>', 'user enable <name>']) {
    expect(stdout).toContain(`tokenchat ${cmd}`);
  }
  const sub = await tokenchat(['user', '--help']);
  expect(sub.code).toBe(0);
  expect(sub.stdout).toContain('add [options] <name>');
});

test('a reader that goes away early (| head) stops the command quietly: no stack trace, the SIGPIPE status', async () => {
  for (const args of [['--help'], ['tokens', 'count', '--model', 'gpt-4o-mini']]) {
    const child = spawn('node', [CLI, ...args], { env: { PATH: process.env.PATH!, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader is gone before the command writes
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => undefined); // --help exits without reading it
    child.stdin.end(JSON.stringify({ messages: [{ role: 'user', content: 'hello' }] }));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect({ args, code, stderr }).toEqual({ args, code: 141, stderr: '' });
  }
});

test('tokenchat migrate applies once and is safe to run twice', async () => {
  const first = await tokenchat(['migrate'], { env });
  const all = readMigrations().map((m) => m.name);
  expect(all.slice(0, 2)).toEqual(['001_init.sql', '002_ledger.sql']);
  // PostgreSQL has migrations of its own (migrations/postgres): the schema as SQLite's reach it, then sessions.
  const applied = ON_POSTGRES ? readPgMigrations().map((m) => m.name) : all;
  expect(first).toMatchObject({ code: 0, stdout: `applied: ${applied.join(', ')}\n` });
  const second = await tokenchat(['migrate'], { env });
  expect(second).toMatchObject({ code: 0, stdout: 'database is up to date\n' });
});

test('user add reads the password from stdin; user list shows it; disable and enable', async () => {
  const add = await tokenchat(['user', 'add', 'root-admin', '--admin'], { env, input: 'a long admin password\n' });
  expect(add).toMatchObject({ code: 0, stdout: 'created admin root-admin\n' });
  expect((await tokenchat(['user', 'add', 'member'], { env, input: 'member password\n' })).code).toBe(0);
  const list = await tokenchat(['user', 'list', '--json'], { env });
  const users = JSON.parse(list.stdout) as Array<{ username: string; role: string; disabled: number }>;
  expect(users.map((u) => [u.username, u.role, u.disabled])).toEqual([['root-admin', 'admin', 0], ['member', 'user', 0]]);
  expect(JSON.stringify(users)).not.toContain('argon2');

  expect(await tokenchat(['user', 'disable', 'MEMBER'], { env })).toMatchObject({ code: 0, stdout: 'disabled MEMBER\n' });
  expect((await tokenchat(['user', 'list'], { env })).stdout).toMatch(/member\tuser\tdisabled/);
  expect((await tokenchat(['user', 'enable', 'member'], { env })).code).toBe(0);
  expect((await tokenchat(['user', 'list'], { env })).stdout).toMatch(/member\tuser\tactive/);

  const last = await tokenchat(['user', 'disable', 'root-admin'], { env });
  expect(last).toMatchObject({ code: 1, stderr: 'tokenchat: That would leave no active administrator.\n' });
  expect((await tokenchat(['user', 'list'], { env })).stdout).toMatch(/root-admin\tadmin\tactive/);
  // The admin pages' operation: audited, by the command line (no user).
  const audit = await withSql((sql) => sql.all("SELECT actor_id AS actor, action, u.username AS target FROM admin_audit a JOIN users u ON u.id = a.target_user_id WHERE action IN ('disable', 'enable') ORDER BY a.id"));
  expect(audit).toEqual([{ actor: null, action: 'disable', target: 'member' }, { actor: null, action: 'enable', target: 'member' }]);
  expect((await tokenchat(['user', 'enable', 'member'], { env })).stderr).toBe('tokenchat: Nothing to change.\n');
});

test.each([
  [['user', 'add', 'a'], 'pw long enough\n', 'tokenchat: A username has 2 to 32 characters.'],
  [['user', 'add', 'shorty'], 'short\n', 'tokenchat: A password has 8 to 1024 characters.'],
  [['user', 'add', 'nopw'], '', 'tokenchat: Enter a password.'],
  [['user', 'disable', 'ghost'], '', 'tokenchat: no user named "ghost"'],
])('tokenchat %j fails with one line and writes nothing', async (args, input, message) => {
  const run = await tokenchat(args, { env, input });
  expect(run.code).toBe(1);
  expect(run.stderr).toBe(`${message}\n`);
  const list = await tokenchat(['user', 'list', '--json'], { env });
  expect(JSON.parse(list.stdout)).toEqual([]);
});

test('a duplicate username is refused', async () => {
  await tokenchat(['user', 'add', 'twin'], { env, input: 'pw long enough\n' });
  const again = await tokenchat(['user', 'add', 'TWIN'], { env, input: 'pw long enough\n' });
  expect(again).toMatchObject({ code: 1, stderr: 'tokenchat: That username is taken.\n' });
});

test('an unknown command and a bad setting exit non-zero with the reason', async () => {
  const unknown = await tokenchat(['frobnicate'], { env });
  expect(unknown.code).not.toBe(0);
  expect(unknown.stderr).toContain("unknown command 'frobnicate'");
  const bad = await tokenchat(['migrate'], { env: { ...env, PORT: 'eighty' } });
  expect(bad).toMatchObject({ code: 1, stderr: 'tokenchat: invalid configuration: PORT must be a whole number\n' });
});

// Each command starts a process: what it loads is its start-up. On SQLite, PostgreSQL's driver,
// prom-client and tiktoken (about 150 ms together) are loaded only by the commands that use them.
if (!ON_POSTGRES) test('a command on SQLite loads neither PostgreSQL\'s driver, nor prom-client, nor tiktoken', async () => {
  const dir = tempDir();
  const preload = path.join(dir, 'loaded.js');
  fs.writeFileSync(preload, "process.on('exit', () => require('node:fs').writeFileSync(process.env.LOADED_OUT, Object.keys(require.cache).join('\\n')));");
  const loadedBy = async (args: string[], input = '') => {
    const out = path.join(dir, 'loaded.txt');
    const code = await new Promise<number>((resolve) => {
      const child = execFile('node', ['-r', preload, CLI, ...args], { env: { PATH: process.env.PATH!, ...env, LOADED_OUT: out } }, (err) => resolve(err ? 1 : 0));
      child.stdin!.end(input);
    });
    expect(code).toBe(0);
    return fs.readFileSync(out, 'utf8').split('\n');
  };
  const heavy = (files: string[]) => files.filter((f) => /node_modules\/(pg|pg-[a-z-]+|prom-client|tiktoken)\//.test(f));
  expect(heavy(await loadedBy(['user', 'add', 'payee'], 'payee password\n'))).toEqual([]);
  expect(heavy(await loadedBy(['grant', 'payee', '500']))).toEqual([]); // a ledger write, through the group commit
  expect(heavy(await loadedBy(['user', 'list']))).toEqual([]);
  // The check itself sees them where they are needed.
  expect(heavy(await loadedBy(['tokens', 'count', '--model', 'gpt-4o-mini'], JSON.stringify({ messages: [{ role: 'user', content: 'hello' }] })))).toContainEqual(expect.stringContaining('node_modules/tiktoken/'));
  fs.rmSync(dir, { recursive: true, force: true });
});

// `tokenchat backup` is SQLite's online backup of the file under DATA_DIR; a PostgreSQL database is
// backed up with PostgreSQL's own tools.
if (!ON_POSTGRES) test('tokenchat backup copies a consistent database that a restore can serve from', async () => {
  await tokenchat(['user', 'add', 'keeper', '--admin'], { env, input: 'keeper password\n' });
  fs.writeFileSync(path.join(dataDir, 'session-secret'), 'k'.repeat(48)); // as the server would make it
  const dest = path.join(tempDir(), 'backup');
  const run = await tokenchat(['backup', dest], { env });
  expect(run).toMatchObject({ code: 0, stdout: `backed up tokenchat.sqlite, session-secret to ${dest}\n` });
  expect(fs.readFileSync(path.join(dest, 'session-secret'), 'utf8')).toBe('k'.repeat(48));
  const restored = await tokenchat(['user', 'list', '--json'], { env: { DATA_DIR: dest } });
  expect(JSON.parse(restored.stdout).map((u: { username: string }) => u.username)).toEqual(['keeper']);
  const again = await tokenchat(['backup', dest], { env });
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/^tokenchat: .*already exists; choose an empty directory\n$/);
  fs.rmSync(path.dirname(dest), { recursive: true, force: true });
});

describe('a grant of a bad amount', () => {
  sharedDatabase(async () => {
    await tokenchat(['user', 'add', 'payer'], { env, input: 'payer password\n' });
  });

  test.each(['0', '1.5', 'abc', '1e3', '99999999999999', '-0', ''])('grant of "%s" is refused with one line and writes nothing', async (amount) => {
    const run = await tokenchat(['grant', 'payer', amount], { env });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^tokenchat: amount must be a whole number from 1 to 1000000000000 \(negative to deduct\), not ".*"\n$/);
    expect(await withSql(async (sql) => [await sql.value("SELECT balance FROM balances"), await sql.value('SELECT count(*) FROM ledger')])).toEqual([2000, 1]);
  });
});

describe('ledger commands', () => {
  beforeEach(async () => {
    await tokenchat(['user', 'add', 'payer'], { env, input: 'payer password\n' });
  });

  test('grant, deduct and balance; the signup bonus is there from the start', async () => {
    expect((await tokenchat(['balance', 'payer'], { env })).stdout).toBe('2000\n');
    expect(await tokenchat(['grant', 'payer', '500', '--note', 'welcome'], { env })).toMatchObject({ code: 0, stdout: 'granted 500; payer now has 2500\n' });
    expect(await tokenchat(['grant', 'payer', '-2500'], { env })).toMatchObject({ code: 0, stdout: 'deducted 2500; payer now has 0\n' });
    expect(await tokenchat(['ledger', 'verify'], { env })).toMatchObject({ code: 0, stdout: 'ledger ok\n' });
    // A deduction is an adjustment, as when an admin makes it on the admin pages.
    const rows = await withSql((sql) => sql.all('SELECT kind, amount, note FROM ledger ORDER BY id'));
    expect(rows).toEqual([
      { kind: 'signup_bonus', amount: 2000, note: null },
      { kind: 'grant', amount: 500, note: 'welcome' },
      { kind: 'adjust', amount: -2500, note: null },
    ]);
    // Each with its audit row, as from the admin pages, by the command line.
    const audit = await withSql((sql) => sql.all('SELECT actor_id AS actor, action, detail FROM admin_audit WHERE action IN (?, ?) ORDER BY id', 'grant', 'deduct'));
    expect(audit.map((a) => ({ ...a, detail: JSON.parse(String(a.detail)) }))).toEqual([
      { actor: null, action: 'grant', detail: { amount: 500, note: 'welcome', balance: 2500 } },
      { actor: null, action: 'deduct', detail: { amount: -2500, note: null, balance: 0 } },
    ]);
  });

  test('a deduction below zero is refused', async () => {
    const run = await tokenchat(['grant', 'payer', '-2001'], { env });
    expect(run).toMatchObject({ code: 1, stderr: 'tokenchat: That would take the balance below zero (it is 2000).\n' });
    expect(Number(await withSql((sql) => sql.value("SELECT count(*) FROM admin_audit WHERE action IN ('grant', 'deduct')")))).toBe(0);
  });

  test('codes create prints K distinct codes; bad options are refused', async () => {
    const run = await tokenchat(['codes', 'create', '--tokens', '100', '--count', '3', '--expires', '2099-12-31'], { env });
    expect(run.code).toBe(0);
    const codes = run.stdout.trim().split('\n');
    expect(new Set(codes).size).toBe(3);
    for (const c of codes) expect(c).toMatch(/^TC(-[0-9A-Z]{5}){4}$/);
    expect((await tokenchat(['codes', 'create', '--tokens', '0', '--count', '3'], { env })).code).toBe(1);
    expect((await tokenchat(['codes', 'create', '--tokens', '5', '--count', '0'], { env })).code).toBe(1);
    const past = await tokenchat(['codes', 'create', '--tokens', '5', '--count', '1', '--expires', '2001-01-01'], { env });
    expect(past).toMatchObject({ code: 1, stderr: 'tokenchat: --expires must be in the future, not "2001-01-01"\n' });
  });

  test('ledger verify exits 1 naming a user whose balance does not match the ledger', async () => {
    const payer = await withSql(async (sql) => {
      await sql.run('UPDATE balances SET balance = balance + 7'); // tampering behind the ledger's back
      return sql.value(`SELECT id FROM users WHERE username_key = 'payer'`);
    });
    const run = await tokenchat(['ledger', 'verify'], { env });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`violation: user ${payer}: balance 2007 != sum of ledger deltas 2000`);
    expect(run.stderr).toMatch(/tokenchat: 2 violations\n$/);
  });
});

describe('tokens count', () => {
  const cookbook = JSON.stringify({ messages: CORPORATE });

  test('prints the prompt tokens with the encoding the models file lists', async () => {
    const gpt4o = await tokenchat(['tokens', 'count', '--model', 'gpt-4o-mini'], { input: cookbook, env });
    expect(gpt4o).toMatchObject({ code: 0, stdout: '124\n' });
    const gpt35 = await tokenchat(['tokens', 'count', '--model', 'gpt-3.5-turbo', '--json'], { input: cookbook, env });
    expect(gpt35.code).toBe(0);
    expect(JSON.parse(gpt35.stdout)).toEqual({ model: 'gpt-3.5-turbo', encoding: 'cl100k_base', prompt_tokens: 129, messages: 129, tools: 0, images: 0 });
  });

  test('a model missing from the models file is counted by its family; the request may name it', async () => {
    const body = JSON.stringify({ model: 'gpt-4-0613', messages: JSON.parse(cookbook).messages });
    const run = await tokenchat(['tokens', 'count', '--json'], { input: body, env });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ model: 'gpt-4-0613', encoding: 'cl100k_base', prompt_tokens: 129 });
  });

  test('special-token text counts as ordinary text', async () => {
    const body = JSON.stringify({ messages: [{ role: 'user', content: '<|endoftext|><|im_start|>' }] });
    const run = await tokenchat(['tokens', 'count', '--model', 'gpt-4o'], { input: body, env });
    expect(run.code).toBe(0);
    expect(Number(run.stdout)).toBeGreaterThan(3 + 1 + 3 + 2); // framing + role + priming + more than two tokens of text
  });

  test.each([
    ['not JSON', 'nope', 'stdin is not JSON'],
    ['no messages array', '{"messages": 3}', 'a JSON object with a "messages" array'],
    ['tools not an array', '{"messages": [], "tools": {}}', '"tools" must be an array'],
    ['no model anywhere', '{"messages": []}', 'say which model'],
  ])('%s: a clear error and exit 1', async (_name, input, message) => {
    const args = input.includes('tools') || input === 'nope' ? ['tokens', 'count', '--model', 'gpt-4o'] : ['tokens', 'count'];
    if (input === '{"messages": 3}') args.push('--model', 'gpt-4o');
    const run = await tokenchat(args, { input, env });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(message);
    expect(run.stdout).toBe('');
  });
});

describe('group commands', () => {
  beforeEach(async () => {
    for (const name of ['ann', 'bob']) await tokenchat(['user', 'add', name], { env, input: `${name} password long\n` });
    expect((await tokenchat(['group', 'create', 'Class 3'], { env })).code).toBe(0);
  });
  const groupRow = () => withSql((sql) => sql.get("SELECT models, price_percent AS percent FROM groups WHERE name = 'Class 3'"));

  test('create, set, add, show, remove and list run the pages\' operations, audited as by the command line', async () => {
    const set = await tokenchat(['group', 'set', 'Class 3', '--models', 'gpt-4o-mini,text-embedding-3-small', '--price-percent', '50'], { env });
    expect(set).toMatchObject({ code: 0, stdout: 'Class 3: gpt-4o-mini, text-embedding-3-small; price percent 50\n' });
    expect(await groupRow()).toEqual({ models: '["gpt-4o-mini","text-embedding-3-small"]', percent: 50 });
    expect(await tokenchat(['group', 'add', 'Class 3', 'ann', 'BOB'], { env })).toMatchObject({ code: 0, stdout: 'added 2 to Class 3: ann, bob\n' });
    expect(await tokenchat(['group', 'add', 'Class 3', 'ann'], { env })).toMatchObject({ code: 0, stdout: 'added 0 to Class 3; already in: ann\n' });
    const show = await tokenchat(['group', 'show', 'Class 3', '--json'], { env });
    expect(JSON.parse(show.stdout)).toMatchObject({
      name: 'Class 3', builtin: false, models: ['gpt-4o-mini', 'text-embedding-3-small'], pricePercent: 50, members: [{ username: 'ann' }, { username: 'bob' }],
    });
    expect(await tokenchat(['group', 'remove', 'Class 3', 'bob'], { env })).toMatchObject({ code: 0, stdout: 'removed 1 from Class 3: bob\n' });
    expect((await tokenchat(['group', 'show', 'Class 3'], { env })).stdout).toBe('group: Class 3\nmodels: gpt-4o-mini, text-embedding-3-small\nprice percent: 50\nmembers (1): ann\n');
    // Only the percent: the models stay; then every model.
    await tokenchat(['group', 'set', 'Class 3', '--price-percent', '200'], { env });
    expect(await groupRow()).toEqual({ models: '["gpt-4o-mini","text-embedding-3-small"]', percent: 200 });
    expect((await tokenchat(['group', 'set', 'Class 3', '--all-models'], { env })).stdout).toBe('Class 3: every model; price percent 200\n');
    expect(await groupRow()).toEqual({ models: null, percent: 200 });
    const list = await tokenchat(['group', 'list'], { env });
    expect(list.stdout.split('\n').slice(0, 3)).toEqual(['id\tname\tmembers\tprice_percent\tmodels', expect.stringMatching(/^\d+\tEveryone\t-\t100\tevery model$/), expect.stringMatching(/^\d+\tClass 3\t1\t200\tevery model$/)]);
    expect(JSON.parse((await tokenchat(['group', 'list', '--json'], { env })).stdout).map((g: { name: string; members: number }) => [g.name, g.members])).toEqual([['Everyone', 0], ['Class 3', 1]]);
    const audit = await withSql((sql) => sql.all("SELECT actor_id AS actor, action, u.username AS target FROM admin_audit a LEFT JOIN users u ON u.id = a.target_user_id WHERE action LIKE 'group_%' ORDER BY a.id"));
    expect(audit).toEqual([
      { actor: null, action: 'group_create', target: null },
      { actor: null, action: 'group_rules', target: null },
      { actor: null, action: 'group_add', target: 'ann' },
      { actor: null, action: 'group_add', target: 'bob' },
      { actor: null, action: 'group_remove', target: 'bob' },
      { actor: null, action: 'group_rules', target: null },
      { actor: null, action: 'group_rules', target: null },
    ]);
  });

  test('set --system-prompt (text, @file, none) with --lock and --unlock: what is not given stays, audited as by the command line', async () => {
    const prompt = () => withSql((sql) => sql.get("SELECT system_prompt AS text, system_prompt_locked AS locked FROM groups WHERE name = 'Class 3'"));
    expect(await tokenchat(['group', 'set', 'Class 3', '--system-prompt', 'You are a patient tutor.', '--lock'], { env }))
      .toMatchObject({ code: 0, stdout: 'Class 3: system prompt of 24 characters, locked (members cannot change it)\n' });
    expect(await prompt()).toEqual({ text: 'You are a patient tutor.', locked: 1 });
    expect((await tokenchat(['group', 'show', 'Class 3'], { env })).stdout).toContain('system prompt (locked): You are a patient tutor.\n');
    const file = path.join(dataDir, 'prompt.txt');
    fs.writeFileSync(file, 'From a file.\nTwo lines.\n');
    // The rules and the prompt in one command; the lock stays as it was.
    const both = await tokenchat(['group', 'set', 'Class 3', '--price-percent', '50', '--system-prompt', `@${file}`], { env });
    expect(both).toMatchObject({ code: 0, stdout: 'Class 3: every model; price percent 50\nClass 3: system prompt of 23 characters, locked (members cannot change it)\n' });
    expect(await prompt()).toEqual({ text: 'From a file.\nTwo lines.', locked: 1 });
    const long = await tokenchat(['group', 'set', 'Class 3', '--system-prompt', 'x'.repeat(8001)], { env });
    expect(long).toMatchObject({ code: 1, stderr: 'tokenchat: A system prompt has at most 8000 characters.\n' });
    expect((await tokenchat(['group', 'set', 'Class 3', '--unlock'], { env })).stdout).toBe('Class 3: system prompt of 23 characters, members may change it\n');
    expect(await prompt()).toEqual({ text: 'From a file.\nTwo lines.', locked: 0 });
    expect((await tokenchat(['group', 'set', 'Everyone', '--system-prompt', 'Be kind.'], { env })).code).toBe(0);
    expect((await tokenchat(['group', 'set', 'Class 3', '--system-prompt', 'none'], { env })).stdout).toBe('Class 3: no system prompt\n');
    expect(await prompt()).toEqual({ text: null, locked: 0 });
    expect(JSON.parse((await tokenchat(['group', 'show', 'Everyone', '--json'], { env })).stdout)).toMatchObject({ systemPrompt: { text: 'Be kind.', locked: false } });
    const audit = await withSql((sql) => sql.all("SELECT actor_id AS actor, action, detail FROM admin_audit WHERE action IN ('group_prompt', 'group_rules') ORDER BY id"));
    expect(audit.map((a: { actor: number | null; action: string; detail: string }) => [a.actor, a.action, JSON.parse(a.detail).locked])).toEqual([
      [null, 'group_prompt', true], [null, 'group_rules', undefined], [null, 'group_prompt', true], [null, 'group_prompt', false], [null, 'group_prompt', false], [null, 'group_prompt', false],
    ]);
  });
});

describe('a group command that is wrong', () => {
  sharedDatabase(async () => {
    for (const name of ['ann', 'bob']) await tokenchat(['user', 'add', name], { env, input: `${name} password long\n` });
    expect((await tokenchat(['group', 'create', 'Class 3'], { env })).code).toBe(0);
  });

  test.each([
    [['group', 'create', 'Everyone'], 'There is already a group called Everyone.'],
    [['group', 'create', 'x'.repeat(61)], 'A group name has 1 to 60 characters.'],
    [['group', 'show', 'Class 9'], 'no group named "Class 9"'],
    [['group', 'add', 'Class 9', 'ann'], 'no group named "Class 9"'],
    [['group', 'add', 'Class 3', 'ann', 'ghost'], 'no user named "ghost"'],
    [['group', 'add', 'Everyone', 'ann'], 'Everyone is built in: it cannot be renamed or deleted, and it has no member list.'],
    [['group', 'set', 'Class 3', '--price-percent', '0'], 'The price is a whole percent from 1 to 1000.'],
    [['group', 'set', 'Class 3', '--price-percent', '1001'], 'The price is a whole percent from 1 to 1000.'],
    [['group', 'set', 'Class 3', '--price-percent', 'half'], '--price-percent must be a whole number from 1 to 1000, not "half"'],
    [['group', 'set', 'Class 3', '--models', 'gpt-4o,gpt-9-ultra'], 'No such model is served: gpt-9-ultra.'],
    [['group', 'set', 'Class 3', '--models', 'gpt-4o', '--all-models'], 'give --models or --all-models, not both'],
    [['group', 'set', 'Class 3'], 'nothing to set: give --models, --all-models, --price-percent, --system-prompt, --lock or --unlock'],
    [['group', 'set', 'Class 3', '--lock'], 'Write a system prompt to lock, or untick “Members cannot change it”.'],
    [['group', 'set', 'Class 3', '--system-prompt', 'Hi', '--lock', '--unlock'], 'give --lock or --unlock, not both'],
    [['group', 'set', 'Class 3', '--system-prompt', '@/nonexistent/prompt.txt'], 'cannot read /nonexistent/prompt.txt: ENOENT'],
    [['group', 'set', 'Class 3', '--price-percent', '50', '--system-prompt', 'none', '--lock'], 'Write a system prompt to lock, or untick “Members cannot change it”.'],
  ])('tokenchat %j fails with one line naming what is wrong and changes nothing', async (args, message) => {
    const run = await tokenchat(args, { env });
    expect(run).toMatchObject({ code: 1, stderr: `tokenchat: ${message}\n` });
    const after = await withSql(async (sql) => ({
      group: await sql.get("SELECT models, price_percent AS percent, system_prompt AS text, system_prompt_locked AS locked FROM groups WHERE name = 'Class 3'"),
      groups: await sql.value('SELECT count(*) FROM groups'),
      members: await sql.value('SELECT count(*) FROM group_members'),
      users: await sql.value('SELECT count(*) FROM users'),
    }));
    expect(after).toEqual({ group: { models: null, percent: 100, text: null, locked: 0 }, groups: 2, members: 0, users: 2 });
  });
});

test('user break-glass <name> on|off marks an account for password sign-in when PASSWORD_SIGNIN=off, audited; a bad state or name exits 1', async () => {
  expect((await tokenchat(['user', 'add', 'root', '--admin'], { env, input: 'correct horse battery\n' })).code).toBe(0);
  const on = await tokenchat(['user', 'break-glass', 'root', 'on'], { env });
  expect(on).toMatchObject({ code: 0, stdout: 'break-glass password sign-in on for root\n' });
  expect(await withSql((sql) => sql.value('SELECT break_glass FROM users WHERE username = ?', 'root'))).toEqual(1);
  expect((await tokenchat(['user', 'break-glass', 'root', 'maybe'], { env })).code).toBe(1);
  expect((await tokenchat(['user', 'break-glass', 'nobody', 'on'], { env })).stderr).toContain('no user named "nobody"');
  expect((await tokenchat(['user', 'break-glass', 'root', 'off'], { env })).code).toBe(0);
  expect(await withSql((sql) => sql.value('SELECT break_glass FROM users WHERE username = ?', 'root'))).toEqual(0);
  const audit = await withSql((sql) => sql.all("SELECT actor_id, detail FROM admin_audit WHERE action = 'break_glass' ORDER BY id"));
  expect(audit.map((a) => [a.actor_id, JSON.parse(a.detail)])).toEqual([[null, { on: true }], [null, { on: false }]]);
});
