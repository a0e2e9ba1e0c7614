// The fake model API's Responses stream (fake-upstream.ts, `api: 'responses'`): a stream scenario
// told as OpenAI's typed events (response.created ... response.completed with usage), with the same
// pauses, gates, drops and errors as its chat-completions chunks.
import type http from 'node:http';
import type { Scenario } from './fake-upstream';

/** A stream scenario with its pieces and usage filled in (DEFAULT_PIECES, DEFAULT_USAGE when it gave none). */
type Stream = Extract<Scenario, { kind: 'stream' }> & { pieces: string[]; usage: NonNullable<Extract<Scenario, { kind: 'stream' }>['usage']> };
const pause = (ms?: number) => (ms ? new Promise((resolve) => setTimeout(resolve, ms)) : undefined);

/** The Responses usage of a scenario's chat usage (cached and reasoning tokens read from OpenAI's fields). */
function usageOf(u: Exclude<Stream['usage'], false>) {
  const details = (u.prompt_tokens_details ?? {}) as { cached_tokens?: number };
  const out = (u.completion_tokens_details ?? {}) as { reasoning_tokens?: number };
  return {
    input_tokens: u.prompt_tokens, input_tokens_details: { cached_tokens: details.cached_tokens ?? 0 },
    output_tokens: u.completion_tokens, output_tokens_details: { reasoning_tokens: out.reasoning_tokens ?? 0 },
    total_tokens: u.prompt_tokens + u.completion_tokens,
  };
}

export async function responsesStream(s: Stream, body: any, res: http.ServerResponse): Promise<void> {
  const model = typeof body?.model === 'string' ? body.model : 'fake';
  let seq = 0;
  let flushed = Promise.resolve();
  const send = (type: string, fields: object = {}) => {
    const data = JSON.stringify({ type, sequence_number: seq++, ...fields });
    flushed = new Promise((done) => res.write(`event: ${type}\ndata: ${data}\n\n`, () => done()));
  };
  const response = (status: string, more: object = {}) => ({ id: 'resp_fake', object: 'response', created_at: 1, model, status, output: [], usage: null, ...more });
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...s.headers });
  await pause(s.firstDelayMs);
  send('response.created', { response: response('in_progress') });
  send('response.in_progress', { response: response('in_progress') });
  let index = 0;
  if (s.reasoning?.length) {
    send('response.output_item.added', { output_index: index, item: { type: 'reasoning', id: 'rs_1', summary: [] } });
    for (const thought of s.reasoning) send('response.reasoning_summary_text.delta', { item_id: 'rs_1', output_index: index, summary_index: 0, delta: thought });
    send('response.output_item.done', { output_index: index++, item: { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: s.reasoning.join('') }] } });
  }
  const pieces = s.pieces;
  const where = { item_id: 'msg_1', output_index: index, content_index: 0 };
  if (pieces.length) {
    send('response.output_item.added', { output_index: index, item: { type: 'message', id: 'msg_1', status: 'in_progress', role: 'assistant', content: [] } });
    send('response.content_part.added', { ...where, part: { type: 'output_text', text: '', annotations: [] } });
  }
  for (let i = 0; i <= pieces.length; i++) {
    if (s.gate && s.gateAfter === i) {
      s.gate.arrive();
      await s.gate.released;
    }
    if (res.destroyed) return;
    if (s.dropAfter === i) {
      await flushed;
      return void res.socket?.destroy();
    }
    if (s.hangAfter === i) return;
    if (i === pieces.length) break;
    await pause(s.delayMs);
    send('response.output_text.delta', { ...where, delta: pieces[i], logprobs: [] });
  }
  const output: object[] = [];
  if (pieces.length) {
    const part = { type: 'output_text', text: pieces.join(''), annotations: [] };
    send('response.output_text.done', { ...where, text: part.text, logprobs: [] });
    send('response.content_part.done', { ...where, part });
    const item = { type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [part] };
    send('response.output_item.done', { output_index: index++, item });
    output.push(item);
  }
  for (const call of s.toolCalls ?? []) {
    const item = { type: 'function_call', id: `fc_${call.id}`, call_id: call.id, name: call.name, arguments: '', status: 'in_progress' };
    send('response.output_item.added', { output_index: index, item });
    for (const part of call.arguments) send('response.function_call_arguments.delta', { item_id: item.id, output_index: index, delta: part });
    const done = { ...item, arguments: call.arguments.join(''), status: 'completed' };
    send('response.function_call_arguments.done', { item_id: item.id, output_index: index, arguments: done.arguments });
    send('response.output_item.done', { output_index: index++, item: done });
    output.push(done);
  }
  if (s.streamError) {
    send('error', { code: s.streamError.code ?? 'server_error', message: s.streamError.message, param: null });
    return void res.end();
  }
  const usage = s.usage === false ? null : usageOf(s.usage);
  const cut = s.finishReason === 'length';
  send(cut ? 'response.incomplete' : 'response.completed',
    { response: response(cut ? 'incomplete' : 'completed', { output, usage, incomplete_details: cut ? { reason: 'max_output_tokens' } : null }) });
  res.end();
}
