// One /v1/responses call: the request put as the chat-completions call it is metered and relayed
// as (runApiCall: the same reserve, abort rule and settle, so a response costs what the same chat
// completion costs), its history read from the response it continues, and the chunks given back
// as output items and typed events. The history of previous_response_id is part of the prompt, so
// it is counted and charged as any prompt is. Only the route renders what this answers.
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { ApiKey } from '../accounts/api-keys';
import type { ModelInfo } from '../metering/models';
import { usageOf, type ReportedUsage } from '../upstream/client';
import { runApiCall, type ApiDeps } from './call';
import { ApiError } from './request';
import { loadResponse, loadResponseObject, saveResponse, type StoredResponse } from './response-store';
import { newResponseId, OutputBuilder, responseOfItem, type ResponseEvent } from './responses-events';
import { chatBodyOf, messagesOf, withOutput, type ChatMessage, type OutputItem } from './responses-input';
import type { ResponsesBody } from './responses-request';

export interface ResponsesCall {
  key: ApiKey;
  body: ResponsesBody;
  model: ModelInfo;
  requestId: string;
  signal: AbortSignal;
  /** Whether responses are kept at all (RESPONSES_KEEP_DAYS > 0). */
  keep: boolean;
  /** The most characters a kept response (its history and object) may take. */
  keepMaxChars: number;
}

export type ResponsesOutcome =
  | { status: 'refused'; error: ApiError }
  | { status: 'done'; response: object }
  /** Failed after output went out (charged prompt + delivered); `started` when events were sent. */
  | { status: 'failed'; error: ApiError; started: boolean };

const notFound = (what: string, id: string, param: string) =>
  new ApiError(404, `${what} with id '${id.slice(0, 100)}' not found.`, 'invalid_request_error', `${param === 'previous_response_id' ? 'previous_response' : 'item'}_not_found`, param);

/** Each stored response read is a database read and a parse of its history: a request may point into this many. */
const MAX_RESPONSES_READ = 50;

/** The stored responses a request builds on: the one it continues, and those its item references point into (each read once). */
async function readStored(deps: ApiDeps, call: ResponsesCall): Promise<{ history: ChatMessage[]; resolve: (id: string) => OutputItem }> {
  const { body, key } = call;
  // An item reference reads the response object only: its output, never the history before it.
  const read = new Map<string, StoredResponse['response'] | undefined>();
  const load = async (id: string) => {
    if (!read.has(id)) read.set(id, await deps.store.read(loadResponseObject, key.id, id));
    return read.get(id);
  };
  const previous = body.previous_response_id ? await deps.store.read(loadResponse, key.id, body.previous_response_id) : undefined;
  if (body.previous_response_id && !previous) throw notFound('Previous response', body.previous_response_id, 'previous_response_id');
  const items = new Map<string, OutputItem>();
  for (const [i, item] of (typeof body.input === 'string' ? [] : body.input).entries()) {
    if (item.type !== 'item_reference') continue;
    const owner = responseOfItem(item.id);
    if (owner && !read.has(`resp_${owner}`) && read.size >= MAX_RESPONSES_READ) {
      throw new ApiError(400, `Item references may point into at most ${MAX_RESPONSES_READ} responses.`, 'invalid_request_error', 'too_many_references', `input.${i}.id`);
    }
    const found = owner && (await load(`resp_${owner}`))?.output.find((o) => o.id === item.id);
    if (!found) throw notFound('Item', item.id, `input.${i}.id`);
    items.set(item.id, found);
  }
  return { history: previous?.history ?? [], resolve: (id) => items.get(id)! };
}

/** Runs the call; `emit` gets each event of a streaming response (none before the hold is taken and the model answers). */
export async function runResponse(deps: ApiDeps, call: ResponsesCall, emit?: (event: ResponseEvent) => void): Promise<ResponsesOutcome> {
  let messages: ChatMessage[];
  try {
    const stored = await readStored(deps, call);
    messages = messagesOf(stored.history, call.body.input, stored.resolve);
  } catch (err) {
    if (err instanceof ApiError) return { status: 'refused', error: err };
    throw err;
  }
  if (messages.length === 0) return { status: 'refused', error: new ApiError(400, 'The input is empty: send a message or an item.', 'invalid_request_error', 'empty_input', 'input') };
  return respond(deps, call, messages, emit);
}

async function respond(deps: ApiDeps, call: ResponsesCall, messages: ChatMessage[], emit?: (event: ResponseEvent) => void): Promise<ResponsesOutcome> {
  const { body, model, key } = call;
  const id = newResponseId();
  const createdAt = Math.floor(Date.now() / 1000);
  const store = body.store !== false && call.keep;
  const shell = (status: string, more: object = {}) => responseObject(id, createdAt, body, model.id, store, status, more);
  const builder = new OutputBuilder(id, emit);
  let started = false;
  let reported: ReportedUsage | undefined;
  const send = (chunk: ChatCompletionChunk) => {
    if (emit && !started) {
      started = true; // the hold is taken and the model answers: a refusal can no longer be a plain HTTP status
      builder.event('response.created', { response: shell('in_progress') });
      builder.event('response.in_progress', { response: shell('in_progress') });
    }
    reported = usageOf(chunk) ?? reported;
    builder.add(chunk);
  };
  const outcome = await runApiCall(deps, { key, body: chatBodyOf(body, messages), model, requestId: call.requestId, signal: call.signal }, send);
  if (outcome.status === 'refused') return outcome;
  builder.close();
  if (outcome.status === 'failed') {
    const error = { code: outcome.error.code, message: outcome.error.message };
    builder.event('error', { ...error, param: outcome.error.param });
    builder.event('response.failed', { response: shell('failed', { output: builder.output, error }) });
    return { status: 'failed', error: outcome.error, started };
  }
  const cut = outcome.completion.toCompletion(model.id).choices[0]?.finish_reason === 'length';
  const status = cut ? 'incomplete' : 'completed';
  const more = { output: builder.output, usage: usageAsCharged(outcome.completion.usage!, reported), ...(cut && { incomplete_details: { reason: 'max_output_tokens' } }) };
  const kept = store && (await keep(deps, call, id, withOutput(messages, builder.output), shell(status, more)));
  const response = shell(status, { ...more, store: kept });
  builder.event(`response.${status}`, { response });
  return { status: 'done', response };
}

/** The Responses usage of what was charged, with the provider's cached and reasoning tokens (never above the charged counts). */
function usageAsCharged(charged: { prompt_tokens: number; completion_tokens: number; total_tokens: number }, reported: ReportedUsage | undefined) {
  return {
    input_tokens: charged.prompt_tokens,
    input_tokens_details: { cached_tokens: Math.min(reported?.cachedTokens ?? 0, charged.prompt_tokens) },
    output_tokens: charged.completion_tokens,
    output_tokens_details: { reasoning_tokens: Math.min(reported?.reasoningTokens ?? 0, charged.completion_tokens) },
    total_tokens: charged.total_tokens,
  };
}

/** Saves the response; a database that fails here loses the continuation, not the answer already paid for. */
async function keep(deps: ApiDeps, call: ResponsesCall, id: string, history: ChatMessage[], response: object): Promise<boolean> {
  // Each kept response holds its whole conversation, and an image costs the same tokens whatever its
  // size: without a bound, a few cheap continuations of large images would fill the disk.
  const size = JSON.stringify(history).length + JSON.stringify(response).length;
  if (size > call.keepMaxChars) {
    deps.logger.warn({ reqId: call.requestId, size }, 'a response too large to keep was answered with store: false');
    return false;
  }
  try {
    await deps.store.write(saveResponse, { id, userId: call.key.userId, keyId: call.key.id, at: new Date(), history, response });
    return true;
  } catch (err) {
    deps.logger.error({ err, reqId: call.requestId }, 'keeping a response failed; it was answered with store: false');
    return false;
  }
}

/** The response object in OpenAI's shape, echoing the request's settings. */
function responseObject(id: string, createdAt: number, body: ResponsesBody, model: string, store: boolean, status: string, more: object): Record<string, unknown> {
  return {
    id, object: 'response', created_at: createdAt, status, error: null, incomplete_details: null,
    instructions: body.instructions ?? null, max_output_tokens: body.max_output_tokens ?? null, model, output: [],
    parallel_tool_calls: body.parallel_tool_calls ?? true, previous_response_id: body.previous_response_id ?? null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: null }, store,
    temperature: body.temperature ?? 1, text: { format: body.text?.format ?? { type: 'text' } }, tool_choice: body.tool_choice ?? 'auto',
    tools: (body.tools ?? []).map((t) => ({ ...t, description: t.description ?? null, parameters: t.parameters ?? null, strict: t.strict ?? null })),
    top_p: body.top_p ?? 1, truncation: 'disabled', usage: null, user: body.user ?? null, metadata: body.metadata ?? {},
    ...more,
  };
}
