// Fixtures for the usage and admin suites: signed-in agents, codes, and chat turns written
// through the ledger (as the chat page does) so the reports have something to show.
import { reserve, settle } from '../src/ledger/ledger';
import { verifyLedger } from '../src/ledger/verify';
import { loadModels } from '../src/metering/models';
import { findByName } from '../src/accounts/users';
import { csrfToken, register, startTestServer, type Agent, type TestServer } from './helpers';

const demo = loadModels().find('demo')!; // 1 balance token per prompt and per completion token

export interface Member {
  agent: Agent;
  id: number;
  name: string;
}

/**
 * One server for a dashboard suite, its first account (`adminName`) the administrator, and the
 * ledger verified when the suite ends. Read `srv` and `admin` inside tests and hooks.
 */
export function dashboardSuite(adminName: string): { srv: TestServer; admin: Member } {
  const suite = {} as { srv: TestServer; admin: Member };
  beforeAll(async () => {
    suite.srv = await startTestServer({ REDEEM_RATE_LIMIT_PER_USER: '1000' });
    suite.admin = await member(suite.srv, adminName); // the first account is the administrator
  });
  afterAll(async () => {
    expect(await suite.srv.database.read(verifyLedger, 60_000)).toEqual([]);
    await suite.srv.close();
  });
  return suite;
}

export async function member(srv: TestServer, name: string): Promise<Member> {
  const agent = srv.agent();
  const res = await register(agent, name);
  if (res.status !== 303) throw new Error(`could not register ${name}: ${res.status}`);
  const user = await srv.database.read(findByName, name);
  return { agent, id: user!.id, name };
}

/** Posts a form with a fresh CSRF token taken from `page`. */
export async function postForm(agent: Agent, url: string, form: Record<string, string>, page = '/usage') {
  const _csrf = await csrfToken(agent, page);
  return agent.post(url).type('form').send({ _csrf, ...form });
}

/** One settled chat turn: reserve then settle, linked to a conversation and message. */
export async function chatTurn(
  srv: TestServer,
  userId: number,
  turn: { key: string; prompt: number; completion: number; conversationId?: number; messageId?: number },
) {
  const r = await reserve(srv.database, { userId, turnKey: turn.key, model: demo, promptTokens: turn.prompt, maxCompletion: turn.completion + 50 });
  if (r.status !== 'held') throw new Error(`reserve failed: ${r.status}`);
  return settle(srv.database, r.hold.id, {
    promptTokens: turn.prompt, completionTokens: turn.completion, source: 'reported', outcome: 'ok',
    conversationId: turn.conversationId, messageId: turn.messageId,
  });
}

export async function balanceRow(srv: TestServer, userId: number): Promise<number> {
  return (await srv.sql.value('SELECT balance FROM balances WHERE user_id = ?', userId)) as number;
}

export async function ledgerCount(srv: TestServer, userId?: number): Promise<number> {
  const text = userId === undefined ? 'SELECT count(*) FROM ledger' : 'SELECT count(*) FROM ledger WHERE user_id = ?';
  return (await srv.sql.value(text, ...(userId === undefined ? [] : [userId]))) as number;
}

/**
 * Parses a CSV download (UTF-8 byte order mark, then RFC 4180: quoted fields, doubled quotes,
 * CRLF) into rows of cells; throws when the mark is missing, as Excel would then garble Chinese.
 */
export function parseCsv(download: string): string[][] {
  if (!download.startsWith('\uFEFF')) throw new Error('the CSV download does not start with a UTF-8 byte order mark');
  const text = download.slice(1);
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += ch;
  }
  if (cell !== '' || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}
