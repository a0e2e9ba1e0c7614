// One server for the /v1/responses tests: two providers, one speaking chat completions only and
// one speaking only the Responses API, each serving a model at 1 token a prompt token and 4 a
// completion token; users with 2,000 tokens and keys on them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createKey, generateKey, type NewKey } from '../src/accounts/api-keys';
import { balanceOf } from '../src/ledger/ledger';
import { newUser, type User } from './chat-helpers';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { startTestServer, type TestServer } from './helpers';

export interface Setup {
  srv: TestServer;
  /** The provider speaking chat completions only (model "chatty"). */
  chat: FakeUpstream;
  /** The provider speaking the Responses API only (model "answers"). */
  responses: FakeUpstream;
  dir: string;
}

const model = (id: string, provider: string) =>
  ({ id, name: id, encoding: 'o200k_base', context_window: 128000, prompt_rate: 1, completion_rate: 4, providers: [provider] });

export async function startResponsesSetup(env: Record<string, string> = {}): Promise<Setup> {
  const chat = await startFakeUpstream();
  const responses = await startFakeUpstream({ api: 'responses' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-responses-'));
  const file = path.join(dir, 'models.json');
  fs.writeFileSync(file, JSON.stringify({
    providers: [{ id: 'chatonly', base_url: chat.url }, { id: 'respapi', base_url: responses.url, api: 'responses' }],
    models: [model('chatty', 'chatonly'), model('answers', 'respapi')],
  }));
  const srv = await startTestServer({
    MODELS_FILE: file, LOGIN_RATE_LIMIT_PER_IP: '10000', API_IN_FLIGHT_PER_USER: '60', API_IN_FLIGHT_PER_KEY: '60', UPSTREAM_CONCURRENCY: '64', QUEUE_MAX_WAITING: '200', ...env,
  });
  return { srv, chat, responses, dir };
}

export async function stopResponsesSetup(s: Setup): Promise<void> {
  await s.srv.close();
  await s.chat.close();
  await s.responses.close();
  fs.rmSync(s.dir, { recursive: true, force: true });
}

const NO_LIMITS: NewKey = { name: 'laptop', models: null, perDay: null, total: null, expiresAt: null };

export async function userWithKey(srv: TestServer): Promise<{ user: User; key: string; keyId: number }> {
  const user = await newUser(srv);
  const { key, id } = await srv.database.write(createKey, user.id, NO_LIMITS, generateKey());
  return { user, key, keyId: id };
}

export const balance = (srv: TestServer, user: User) => srv.database.read(balanceOf, user.id);

export const lastHold = (srv: TestServer, user: User) =>
  srv.sql.get<{ charge: number; prompt: number; completion: number; source: string; outcome: string; state: string }>(
    `SELECT charge, used_prompt_tokens AS prompt, completion_tokens AS completion, source, outcome, state
     FROM holds WHERE user_id = ? ORDER BY id DESC LIMIT 1`, user.id);

export async function until(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
