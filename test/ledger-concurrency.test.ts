import { spawn } from 'node:child_process';
import path from 'node:path';
import { createCodes } from '../src/ledger/codes';
import type { AppStore } from '../src/db';
import { balanceOf, openAccount } from '../src/ledger/ledger';
import { verifyLedger } from '../src/ledger/verify';
import { testDatabaseUrl } from './db-under-test';
import { openTempDatabase, type Sql } from './helpers';

const WORKER = path.join(__dirname, 'fixtures', 'ledger-worker.js');
type Out = { held: number; insufficient: number; amounts: number; redeemed: number; refused: number };

/** Starts the workers, lets them all go at once, and collects what each did. */
async function race(args: string[][]): Promise<Out[]> {
  // On PostgreSQL the workers open the test's own schema; on SQLite, the file under its directory.
  const env = temp.schema ? { ...process.env, LEDGER_WORKER_DATABASE_URL: testDatabaseUrl(), LEDGER_WORKER_SCHEMA: temp.schema } : process.env;
  const children = args.map((a) => spawn('node', [WORKER, ...a], { stdio: ['pipe', 'pipe', 'inherit'], env }));
  const results = children.map(
    (child) =>
      new Promise<Out>((resolve, reject) => {
        let text = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
        child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(text) as Out) : reject(new Error(`worker exited ${code}`))));
      }),
  );
  await new Promise((resolve) => setTimeout(resolve, 300)); // all have opened the database
  for (const child of children) child.stdin.end('go');
  return Promise.all(results);
}

let temp: Awaited<ReturnType<typeof openTempDatabase>>;
let database: AppStore;
let sql: Sql;
let dir: string;
beforeEach(async () => {
  temp = await openTempDatabase();
  ({ database, dir, sql } = temp);
});
afterEach(() => temp.close());

async function addUser(name: string): Promise<number> {
  return Number(await sql.value(`INSERT INTO users (username, username_key, password_hash) VALUES (?, ?, '$argon2id$x') RETURNING id`, name, name));
}

test('200 concurrent reserves from 4 processes on one SQLite file never overspend', async () => {
  const userId = await addUser('contended');
  await database.write(openAccount, userId, 5000); // pays for 100 holds of 50
  const outs = await race(Array.from({ length: 4 }, () => [dir, 'reserve', String(userId), '50']));
  const held = outs.reduce((s, o) => s + o.held, 0);
  const insufficient = outs.reduce((s, o) => s + o.insufficient, 0);
  expect(held + insufficient).toBe(200);
  // Each hold is 50 and a settled turn uses all of it, so exactly 100 fit and nothing is left.
  expect(held).toBe(100);
  expect(outs.reduce((s, o) => s + o.amounts, 0)).toBe(5000);
  expect(await database.read(balanceOf, userId)).toBe(0);
  expect(await database.read(verifyLedger, 3_600_000)).toEqual([]);
  const reserves = await sql.value(`SELECT count(*) FROM ledger WHERE kind = 'reserve'`);
  expect(reserves).toBe(held);
});

test('four processes redeeming one code at once: exactly one succeeds', async () => {
  const users: number[] = [];
  for (const name of ['racer1', 'racer2', 'racer3', 'racer4']) users.push(await addUser(name));
  for (const id of users) await database.write(openAccount, id, 0);
  const [code] = await createCodes(database, { tokens: 777, count: 1 });
  const outs = await race(users.map((id) => [dir, 'redeem', String(id), '3', code!]));
  expect(outs.reduce((s, o) => s + o.redeemed, 0)).toBe(1);
  expect(outs.reduce((s, o) => s + o.refused, 0)).toBe(11);
  expect((await Promise.all(users.map((id) => database.read(balanceOf, id)))).sort((a, b) => a - b)).toEqual([0, 0, 0, 777]);
  expect(await database.read(verifyLedger, 3_600_000)).toEqual([]);
});
