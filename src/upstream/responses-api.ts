// A provider that speaks OpenAI's Responses API ("api": "responses" in the models file): the
// chat-completions request every call here is built as (the chat page's turns, /v1/chat/completions,
// /v1/responses) asked as a Responses request, and its typed events read back as chat-completion
// chunks, so the same counter, cut and settle apply whichever API the provider speaks. Nothing is
// stored on the provider's side (store: false): the history is sent each time, as it is counted.
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import { UpstreamError } from './errors';

type Json = Record<string, unknown>;
type Message = ChatCompletionCreateParamsStreaming['messages'][number];

const textOf = (content: unknown): string =>
  typeof content === 'string' ? content : Array.isArray(content) ? content.map((p: Json) => (typeof p.text === 'string' ? p.text : typeof p.refusal === 'string' ? p.refusal : '')).join('') : '';

function partsOf(content: unknown): unknown {
  if (!Array.isArray(content)) return content ?? '';
  return content.map((p: Json) => {
    if (p.type === 'image_url') {
      const image = p.image_url as { url: string; detail?: string };
      return { type: 'input_image', image_url: image.url, detail: image.detail ?? 'auto' };
    }
    return { type: 'input_text', text: textOf([p]) };
  });
}

/** A chat message as Responses input items: an assistant's tool calls become function_call items, a tool's answer a function_call_output. */
function itemsOf(m: Message): Json[] {
  switch (m.role) {
    case 'tool':
      return [{ type: 'function_call_output', call_id: m.tool_call_id, output: textOf(m.content) }];
    case 'assistant': {
      const text = textOf(m.content) || (typeof m.refusal === 'string' ? m.refusal : '');
      const items: Json[] = text ? [{ role: 'assistant', content: text }] : [];
      for (const call of m.tool_calls ?? []) {
        if (call.type === 'function') items.push({ type: 'function_call', call_id: call.id, name: call.function.name, arguments: call.function.arguments });
        else items.push({ type: 'custom_tool_call', call_id: call.id, name: call.custom.name, input: call.custom.input });
      }
      return items;
    }
    case 'function':
      return [{ role: 'user', content: textOf(m.content) }];
    default:
      return [{ role: m.role, content: partsOf(m.content) }];
  }
}

function toolOf(t: Json): Json {
  if (t.type === 'custom') return { type: 'custom', ...(t.custom as Json) };
  const f = t.function as Json;
  return { type: 'function', name: f.name, description: f.description ?? null, parameters: f.parameters ?? { type: 'object', properties: {} }, strict: f.strict ?? false };
}

function toolChoiceOf(choice: unknown): unknown {
  if (typeof choice === 'string' || typeof choice !== 'object' || choice === null) return choice;
  const c = choice as { type?: string; function?: { name?: string }; custom?: { name?: string } };
  if (c.type === 'function') return { type: 'function', name: c.function?.name };
  if (c.type === 'custom') return { type: 'custom', name: c.custom?.name };
  return undefined;
}

function formatOf(format: unknown): Json | undefined {
  const f = format as { type?: string; json_schema?: Json } | undefined;
  if (!f?.type) return undefined;
  return f.type === 'json_schema' ? { type: 'json_schema', ...f.json_schema } : { type: f.type };
}

/** The Responses request of a chat-completions one; what chat completions have and the Responses API lacks (stop, seed, penalties) is left out. */
export function responsesBodyOf(body: ChatCompletionCreateParamsStreaming): Json {
  const b = body as unknown as Json;
  const max = body.max_completion_tokens ?? body.max_tokens;
  const format = formatOf(body.response_format);
  const choice = toolChoiceOf(body.tool_choice);
  return {
    model: body.model,
    input: body.messages.flatMap(itemsOf),
    stream: true,
    store: false,
    ...(max != null && { max_output_tokens: max }),
    ...(body.temperature != null && { temperature: body.temperature }),
    ...(body.top_p != null && { top_p: body.top_p }),
    ...(body.tools?.length && { tools: body.tools.map((t) => toolOf(t as unknown as Json)) }),
    ...(choice !== undefined && { tool_choice: choice }),
    ...(body.parallel_tool_calls != null && { parallel_tool_calls: body.parallel_tool_calls }),
    ...(format && { text: { format } }),
    ...(body.reasoning_effort && { reasoning: { effort: body.reasoning_effort } }),
    ...(typeof b.user === 'string' && { user: b.user }),
  };
}

type Event = { type: string } & Json;

/** The chat usage of a Responses usage: input tokens include the cached ones, output tokens the reasoning ones, as in chat completions. */
function usageOf(u: Json | undefined): ChatCompletionChunk['usage'] | undefined {
  if (!u) return undefined;
  const prompt = u.input_tokens as number;
  const completion = u.output_tokens as number;
  return {
    prompt_tokens: prompt, completion_tokens: completion, total_tokens: (u.total_tokens as number) ?? prompt + completion,
    prompt_tokens_details: { cached_tokens: (u.input_tokens_details as Json | undefined)?.cached_tokens as number },
    completion_tokens_details: { reasoning_tokens: (u.output_tokens_details as Json | undefined)?.reasoning_tokens as number },
  };
}

/** A Responses stream's events as chat-completion chunks: text, refusals, reasoning summaries and function calls, then the finish and the usage. */
export async function* chunksOfEvents(events: AsyncIterable<unknown>, model: string): AsyncGenerator<ChatCompletionChunk> {
  let id = 'resp';
  let created = Math.floor(Date.now() / 1000);
  const calls = new Map<string, number>();
  let output = false;
  const chunk = (delta: Json, finish: string | null = null): ChatCompletionChunk =>
    ({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] }) as ChatCompletionChunk;
  for await (const raw of events) {
    const e = raw as Event;
    const item = e.item as Json | undefined;
    switch (e.type) {
      case 'response.created': {
        const r = e.response as Json;
        id = typeof r.id === 'string' ? r.id : id;
        created = typeof r.created_at === 'number' ? r.created_at : created;
        yield chunk({ role: 'assistant', content: '' });
        break;
      }
      case 'response.output_text.delta':
        output = true;
        yield chunk({ content: e.delta });
        break;
      case 'response.refusal.delta':
        output = true;
        yield chunk({ refusal: e.delta });
        break;
      case 'response.reasoning_summary_text.delta':
      case 'response.reasoning_text.delta':
        yield chunk({ reasoning_content: e.delta });
        break;
      case 'response.output_item.added':
        if (item?.type !== 'function_call') break;
        output = true;
        calls.set(String(item.id), calls.size);
        yield chunk({ tool_calls: [{ index: calls.size - 1, id: item.call_id, type: 'function', function: { name: item.name, arguments: item.arguments ?? '' } }] });
        break;
      case 'response.function_call_arguments.delta':
        yield chunk({ tool_calls: [{ index: calls.get(String(e.item_id)) ?? 0, function: { arguments: e.delta } }] });
        break;
      case 'response.completed':
      case 'response.incomplete': {
        const r = e.response as Json;
        const cut = (r.incomplete_details as Json | null)?.reason === 'max_output_tokens';
        yield chunk({}, cut ? 'length' : calls.size ? 'tool_calls' : 'stop');
        const usage = usageOf(r.usage as Json | undefined);
        if (usage) yield { ...chunk({}), choices: [], usage };
        return;
      }
      case 'response.failed':
      case 'error': {
        const err = (e.type === 'error' ? e : ((e.response as Json)?.error as Json)) ?? {};
        throw new UpstreamError('server', `the model API failed: ${typeof err.message === 'string' ? err.message : e.type}`, { midStream: output, ...(typeof err.code === 'string' && { code: err.code }) });
      }
    }
  }
}
