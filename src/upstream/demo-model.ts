// The offline demo model: a `fetch` for the openai SDK that answers POST /chat/completions in
// process, streaming a canned but deterministic markdown reply in the chat-completions chunk
// format, with usage counted by tiktoken. It stops at max_tokens like a real model, so the ledger
// sees exactly what it would see upstream.
import { setTimeout as sleep } from 'node:timers/promises';
import { countPromptTokens, countTextSync, encodingForModel } from '../metering/tokens';

export const DEFAULT_DEMO_DELAY_MS = 15;

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
// A word with the spaces before it, or one CJK character, or trailing spaces: the pieces join back
// into the whole reply.
const PIECE = /\s*(?:[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]|[^\s\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+)|\s+$/gu;

interface DemoMessage {
  role?: unknown;
  content?: unknown;
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return (content as Array<{ text?: unknown } | null>).map((part) => (typeof part?.text === 'string' ? part.text : '')).join(' ');
}

/** The whole reply the demo gives to a conversation. */
export function demoReply(messages: DemoMessage[]): string {
  const last = [...messages].reverse().find((m) => m.role === 'user');
  const said = textOf(last?.content).trim();
  const chars = [...said].length;
  const snippet = said.replace(/\s+/g, ' ').slice(0, 120) + (chars > 120 ? '…' : '');
  if (CJK.test(said)) {
    return [
      '**演示模型**：离线运行，尚未设置 `OPENAI_API_KEY`。回复内容是固定的，但会像真实回复一样计费。',
      '',
      `你说：“${snippet}”`,
      '',
      `这条消息有 ${chars} 个字符，对话里共有 ${messages.length} 条消息。可以这样统计：`,
      '',
      '```js',
      `const chars = [...message].length; // ${chars}`,
      '```',
      '',
      '设置 `OPENAI_API_KEY`（以及可选的 `OPENAI_BASE_URL`）即可连接真实模型。',
    ].join('\n');
  }
  const words = said === '' ? 0 : said.split(/\s+/).length;
  return [
    '**Demo model**: offline, no `OPENAI_API_KEY` set. The reply is canned, but it is billed like a real one.',
    '',
    said === '' ? 'You sent an empty message.' : `You said: "${snippet}"`,
    '',
    `That is ${words} ${words === 1 ? 'word' : 'words'} and ${chars} ${chars === 1 ? 'character' : 'characters'}, in a conversation of ${messages.length} ${messages.length === 1 ? 'message' : 'messages'}. To count them yourself:`,
    '',
    '```js',
    `const words = message.trim().split(/\\s+/).length; // ${words}`,
    `const chars = [...message].length; // ${chars}`,
    '```',
    '',
    'Set `OPENAI_API_KEY` (and optionally `OPENAI_BASE_URL`) to talk to a real model.',
  ].join('\n');
}

/** The reply cut into streamed pieces, stopped before the piece that would pass `maxTokens`. */
export function demoPieces(reply: string, maxTokens: number | undefined, encoding: 'cl100k_base' | 'o200k_base') {
  const pieces = reply.match(PIECE) ?? [];
  if (maxTokens === undefined) return { pieces, finishReason: 'stop' as const };
  let text = '';
  for (let i = 0; i < pieces.length; i++) {
    if (countTextSync(text + pieces[i], encoding) > maxTokens) return { pieces: pieces.slice(0, i), finishReason: 'length' as const };
    text += pieces[i];
  }
  return { pieces, finishReason: 'stop' as const };
}

const abortError = () => Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const apiError = (status: number, message: string, code: string | null = null) =>
  json(status, { error: { message, type: 'invalid_request_error', param: null, code } });

/** A fetch that is the demo model. `delayMs` is the pause before each chunk after the first. */
export function createDemoFetch(opts: { delayMs: number }): typeof fetch {
  return async (input, init) => {
    const signal = init?.signal ?? undefined;
    if (signal?.aborted) throw abortError();
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!/\/chat\/completions$/.test(new URL(url).pathname)) return apiError(404, `the demo model has no ${new URL(url).pathname}`);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(typeof init?.body === 'string' ? init.body : '') as Record<string, unknown>;
    } catch {
      return apiError(400, 'the request body is not JSON');
    }
    const model = typeof body.model === 'string' ? body.model : 'demo';
    const messages = Array.isArray(body.messages) ? (body.messages as DemoMessage[]) : [];
    if (messages.length === 0) return apiError(400, "'messages' must be a non-empty array");
    const encoding = encodingForModel(model, 'o200k_base');
    const limit = body.max_completion_tokens ?? body.max_tokens;
    const { pieces, finishReason } = demoPieces(demoReply(messages), typeof limit === 'number' ? limit : undefined, encoding);
    const text = pieces.join('');
    const usage = {
      prompt_tokens: (await countPromptTokens({ model, messages }, { encoding })).total,
      completion_tokens: countTextSync(text, encoding),
      total_tokens: 0,
    };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    const created = Math.floor(Date.now() / 1000);
    if (body.stream !== true) {
      const message = { role: 'assistant', content: text, refusal: null };
      return json(200, { id: 'chatcmpl-demo', object: 'chat.completion', created, model, choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }], usage });
    }
    const withUsage = (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
    const chunk = (choices: unknown[], extra: object = {}) =>
      JSON.stringify({ id: 'chatcmpl-demo', object: 'chat.completion.chunk', created, model, choices, ...(withUsage && { usage: null }), ...extra });
    const delta = (d: object, finish: string | null = null) => ({ index: 0, delta: d, logprobs: null, finish_reason: finish });
    const events = [
      chunk([delta({ role: 'assistant', content: '' })]),
      ...pieces.map((p) => chunk([delta({ content: p })])),
      chunk([delta({}, finishReason)]),
      ...(withUsage ? [chunk([], { usage })] : []),
      '[DONE]',
    ];
    return new Response(sseBody(events, opts.delayMs, signal), { status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8' } });
  };
}

function sseBody(events: string[], delayMs: number, signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let next = 0;
  let onAbort: (() => void) | undefined;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      // Like a real fetch, aborting errors the body at once, even while the reader waits.
      onAbort = () => controller.error(abortError());
      signal?.addEventListener('abort', onAbort, { once: true });
    },
    async pull(controller) {
      if (next > 0 && delayMs > 0) await sleep(delayMs, undefined, { signal });
      if (signal?.aborted) throw abortError();
      controller.enqueue(encoder.encode(`data: ${events[next++]}\n\n`));
      if (next === events.length) {
        if (onAbort) signal?.removeEventListener('abort', onAbort);
        controller.close();
      }
    },
    cancel() {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    },
  });
}
