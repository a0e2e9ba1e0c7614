// A Responses request as the chat-completions request every call here is metered and relayed as
// (call.ts): the instructions, the stored history of previous_response_id, then the input items,
// as messages. So the same counter prices it, the same hold pays for it, and a provider that
// speaks only chat completions can answer it; a function call joins the assistant message before
// it, as chat completions' tool_calls do.
import type { ChatBody } from './request';
import type { InputItem, ResponsesBody } from './responses-request';

export type ChatMessage = ChatBody['messages'][number];
type ToolCall = { id: string; type: 'function'; function: { name: string; arguments: string } };
type Part = Extract<InputItem, { role: string }>['content'];

/** An output item as tokenchat gives it (and keeps it, for previous_response_id and item references). */
export type OutputItem =
  | { type: 'message'; id: string; status: string; role: 'assistant'; content: Array<{ type: 'output_text'; text: string; annotations: never[]; logprobs: never[] } | { type: 'refusal'; refusal: string }> }
  | { type: 'function_call'; id: string; status: string; call_id: string; name: string; arguments: string }
  | { type: 'reasoning'; id: string; summary: Array<{ type: 'summary_text'; text: string }> };

function contentOf(content: Part): ChatMessage['content'] {
  if (typeof content === 'string') return content;
  return content.map((p) => {
    switch (p.type) {
      case 'input_text':
      case 'output_text':
        return { type: 'text', text: p.text };
      case 'refusal':
        return { type: 'text', text: p.refusal };
      case 'input_image':
        return { type: 'image_url', image_url: { url: p.image_url, ...(p.detail && { detail: p.detail }) } };
    }
  });
}

/** An assistant's content as one string: chat completions take assistant text, not images. */
const assistantText = (content: Part): string =>
  typeof content === 'string' ? content : content.map((p) => ('text' in p ? p.text : 'refusal' in p ? p.refusal : '')).join('');

/** Builds the messages item by item; a function call after an assistant message is one of its tool_calls. */
class Messages {
  readonly list: ChatMessage[] = [];
  private calling: { role: 'assistant'; tool_calls: ToolCall[] } | undefined;

  add(item: InputItem | OutputItem, resolve: (id: string) => OutputItem): void {
    if (item.type === 'item_reference') return this.add(resolve(item.id), resolve);
    if (item.type === 'reasoning') return;
    if (item.type === 'function_call') {
      if (!this.calling) {
        this.calling = { role: 'assistant', tool_calls: [] };
        this.list.push({ content: null, ...this.calling } as ChatMessage);
      }
      this.calling.tool_calls.push({ id: item.call_id, type: 'function', function: { name: item.name, arguments: item.arguments } });
      (this.list.at(-1) as { tool_calls?: ToolCall[] }).tool_calls = this.calling.tool_calls;
      return;
    }
    this.calling = undefined;
    if (item.type === 'function_call_output') {
      const output = typeof item.output === 'string' ? item.output : item.output.map((p) => p.text).join('');
      this.list.push({ role: 'tool', tool_call_id: item.call_id, content: output });
      return;
    }
    if (item.role === 'assistant') {
      this.list.push({ role: 'assistant', content: assistantText(item.content as Part) });
      this.calling = { role: 'assistant', tool_calls: [] }; // its calls, if any, follow it
      return;
    }
    // "developer" is OpenAI's newer name for "system", which every chat-completions provider takes
    // (DeepSeek and Ollama do not know "developer"; OpenAI reads "system" as it for reasoning models).
    this.list.push({ role: item.role === 'developer' ? 'system' : item.role, content: contentOf(item.content as Part) });
  }
}

/** The input items as chat messages (after `history`), an item reference read through `resolve`. */
export function messagesOf(history: readonly ChatMessage[], input: ResponsesBody['input'], resolve: (id: string) => OutputItem): ChatMessage[] {
  const messages = new Messages();
  messages.list.push(...history);
  if (typeof input === 'string') messages.list.push({ role: 'user', content: input });
  else for (const item of input) messages.add(item, resolve);
  return messages.list;
}

/** The output items appended to a conversation's messages: what previous_response_id continues from. */
export function withOutput(messages: readonly ChatMessage[], output: readonly OutputItem[]): ChatMessage[] {
  const more = new Messages();
  more.list.push(...messages);
  for (const item of output) more.add(item, () => item);
  return more.list;
}

/** The chat-completions body of a Responses request: checked by construction, metered as any other. */
export function chatBodyOf(body: ResponsesBody, messages: ChatMessage[]): ChatBody {
  const format = body.text?.format;
  const all: ChatMessage[] = body.instructions ? [{ role: 'system', content: body.instructions }, ...messages] : messages;
  return {
    model: body.model,
    messages: all,
    ...(body.stream && { stream: true, stream_options: { include_usage: true } }),
    ...(body.max_output_tokens && { max_completion_tokens: body.max_output_tokens }),
    ...(body.temperature != null && { temperature: body.temperature }),
    ...(body.top_p != null && { top_p: body.top_p }),
    ...(body.tools?.length && {
      tools: body.tools.map((t) => ({
        type: 'function' as const,
        function: { name: t.name, ...(t.description && { description: t.description }), ...(t.parameters && { parameters: t.parameters }), ...(t.strict != null && { strict: t.strict }) },
      })),
    }),
    ...(body.tool_choice && { tool_choice: typeof body.tool_choice === 'string' ? body.tool_choice : { type: 'function', function: { name: body.tool_choice.name } } }),
    ...(body.parallel_tool_calls != null && body.tools?.length && { parallel_tool_calls: body.parallel_tool_calls }),
    ...(format && format.type !== 'text' && {
      response_format: format.type === 'json_object' ? { type: 'json_object' } : {
        type: 'json_schema', json_schema: { name: format.name, schema: format.schema, ...(format.description && { description: format.description }), ...(format.strict != null && { strict: format.strict }) },
      },
    }),
    ...(body.reasoning?.effort && { reasoning_effort: body.reasoning.effort }),
    ...(body.user && { user: body.user }),
  };
}
