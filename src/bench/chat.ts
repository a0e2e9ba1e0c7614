// Chat figures for `npm run bench`: how long a streamed token takes from leaving the model API to
// reaching the browser's connection (budget: p99 <= 5 ms), and the server time of a page showing a
// 100-turn conversation (budget: < 50 ms). One process holds the model API, the app and the
// client, so every figure also carries the other two's scheduling: an upper bound.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { addTurn, createConversation, finishMessage, lastMessageId } from '../chat/conversations';
import { loadConfig } from '../config';
import { createLogger } from '../log';
import type { Store } from '../storage/op';
import { startServer } from '../server';
import { findByName } from '../accounts/users';
import { Client, field, percentile } from './http-client';

const PIECES = 400;

/** A model API that streams PIECES chunks, each carrying the time it left. */
function stampingUpstream(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    // A failure cuts the answer short rather than rejecting where nothing listens.
    req.on('end', () => void stamped(res).catch((err: unknown) => res.destroy(err as Error)));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function stamped(res: http.ServerResponse): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'text/event-stream' });
  const chunk = (delta: object, finish: string | null = null) =>
    `data: ${JSON.stringify({ id: 'b', object: 'chat.completion.chunk', created: 0, model: 'demo', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  for (let i = 0; i < PIECES; i++) {
    await new Promise((r) => setTimeout(r, 2));
    res.write(chunk({ content: ` t${performance.now().toFixed(3)}` }));
  }
  res.write(chunk({}, 'stop'));
  res.end(`data: ${JSON.stringify({ id: 'b', object: 'chat.completion.chunk', created: 0, model: 'demo', choices: [], usage: { prompt_tokens: 10, completion_tokens: PIECES * 3 } })}\n\ndata: [DONE]\n\n`);
}

export async function benchChat(): Promise<Record<string, number>> {
  const upstream = await stampingUpstream();
  const dataDir = fs.mkdtempSync('/tmp/tokenchat-bench-chat-');
  const config = loadConfig({
    DATA_DIR: dataDir, PORT: '0', NODE_ENV: 'production', LOG_LEVEL: 'silent', SIGNUP_BONUS: '100000000', // production: templates cached, as deployed
    OPENAI_API_KEY: 'sk-bench', OPENAI_BASE_URL: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`,
  });
  const app = await startServer(config, createLogger('silent'));
  try {
    const client = new Client(app.url);
    const page = await (await client.request('/register')).text();
    await client.form('/register', { _csrf: field(page, '_csrf'), username: 'bench', password: 'bench password', confirm: 'bench password' });
    const home = await (await client.request('/')).text();
    const lags: number[] = [];
    for (let turn = 0; turn < 3; turn++) {
      const res = await client.form('/send', { _csrf: field(home, '_csrf'), turn_key: `bench-turn-${turn}`, message: 'go', model: 'gpt-4o-mini' }, {
        'HX-Request': 'true', Accept: 'text/html, text/event-stream',
      });
      const decoder = new TextDecoder();
      for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
        const now = performance.now();
        // Only streamed deltas count; the final message repeats every stamp, rendered as markdown.
        for (const m of decoder.decode(bytes, { stream: true }).matchAll(/hx-swap="beforeend"> t(\d+\.\d+)</g)) lags.push(now - Number(m[1]));
      }
    }
    if (lags.length < PIECES) throw new Error(`only ${lags.length} streamed tokens seen`);
    lags.sort((a, b) => a - b);
    const userId = (await app.database.read(findByName, 'bench'))!.id;
    const pageMs = await pageServerTime(client, app.database, userId);
    return {
      stream_token_p50_ms: round(percentile(lags, 50)), stream_token_p99_ms: round(percentile(lags, 99)),
      page_100_turns_p50_ms: round(pageMs.p50), page_100_turns_p99_ms: round(pageMs.p99),
    };
  } finally {
    await app.close();
    upstream.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const round = (n: number) => Math.round(n * 100) / 100;

const ANSWER = `Here is how it works:\n\n1. The prompt is counted.\n2. The balance is reserved.\n\n\`\`\`ts\nconst total = prompt + completion; // tokens\nexport function price(n: number) {\n  return Math.ceil(n * 1.5);\n}\n\`\`\`\n\n| model | rate |\n| --- | --- |\n| demo | 1 |\n\nThat is **all**: see [the docs](https://example.com/docs).`;

/** GET /c/:id of a 100-turn conversation (markdown with code in every answer): the server's time for it. */
async function pageServerTime(client: Client, store: Store, userId: number) {
  const conversation = await store.write(createConversation, userId, 'Bench: 100 turns', { systemPrompt: '', model: 'demo', temperature: null, maxTokens: null });
  for (let i = 0; i < 100; i++) {
    const basis = await store.read(lastMessageId, conversation.id);
    const { assistant } = (await store.write(addTurn, conversation.id, 'send', `Question ${i}: how are tokens counted and charged?`, 'demo', null, basis))!;
    await store.write(finishMessage, assistant.id, { content: `${ANSWER}\n\nAnswer number ${i}.`, status: 'done', promptTokens: 100, completionTokens: 80, charge: 180, source: 'reported' });
  }
  const times: number[] = [];
  for (let i = 0; i < 40; i++) {
    const res = await client.request(`/c/${conversation.id}`);
    const body = await res.text();
    if (res.status !== 200 || !body.includes('Answer number 99.')) throw new Error(`page of 100 turns: ${res.status}`);
    // Server time, from the app's Server-Timing header: from the request reaching the app to the page sent.
    const dur = Number(/app;dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '')?.[1]);
    if (!Number.isFinite(dur)) throw new Error('no Server-Timing on the page');
    if (i >= 5) times.push(dur); // the first renders fill the markdown cache
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}
