// A streamed chat completion put back together: what a non-streaming /v1 client gets, built from
// the same chunks a streaming one is sent, so both are metered the same way. Tool calls arrive in
// pieces keyed by their `index` (id and name first, then the arguments a few characters at a
// time) and are joined here.
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';

type ToolCall = { id: string; type: 'function'; function: { name: string; arguments: string } };
type Finish = ChatCompletion.Choice['finish_reason'];

/** Reasoning text some providers stream beside the answer (DeepSeek, Qwen, vLLM): sent on, so counted too. */
type ReasoningDelta = { reasoning_content?: unknown; reasoning?: unknown };
const reasoningOf = (delta: object): string => {
  const { reasoning_content: a, reasoning: b } = delta as ReasoningDelta;
  return (typeof a === 'string' ? a : '') + (typeof b === 'string' ? b : '');
};

/** The text in a chunk that a client is sent and the completion is counted by (first choice). */
export function outputText(chunk: ChatCompletionChunk): string {
  const delta = chunk.choices?.[0]?.delta;
  if (!delta) return '';
  let text = (delta.content ?? '') + (delta.refusal ?? '') + reasoningOf(delta);
  for (const call of delta.tool_calls ?? []) text += (call.function?.name ?? '') + (call.function?.arguments ?? '');
  return text;
}

export class Assembled {
  private id = '';
  private created = 0;
  private model = '';
  private fingerprint: string | undefined;
  private content = '';
  private reasoning = '';
  private refusal: string | null = null;
  private readonly calls = new Map<number, ToolCall>();
  private finishReason: Finish | null = null;
  usage: ChatCompletion['usage'];

  get hasOutput(): boolean {
    return this.content !== '' || this.reasoning !== '' || this.refusal !== null || this.calls.size > 0;
  }

  add(chunk: ChatCompletionChunk): void {
    this.id ||= chunk.id;
    this.created ||= chunk.created;
    this.model ||= chunk.model;
    this.fingerprint ??= chunk.system_fingerprint ?? undefined;
    const choice = chunk.choices?.find((c) => c.index === 0);
    if (!choice) return;
    const delta = choice.delta ?? {};
    if (delta.content) this.content += delta.content;
    this.reasoning += reasoningOf(delta);
    if (delta.refusal) this.refusal = (this.refusal ?? '') + delta.refusal;
    for (const piece of delta.tool_calls ?? []) {
      const call = this.calls.get(piece.index) ?? { id: '', type: 'function' as const, function: { name: '', arguments: '' } };
      if (piece.id) call.id = piece.id;
      if (piece.function?.name) call.function.name += piece.function.name;
      if (piece.function?.arguments) call.function.arguments += piece.function.arguments;
      this.calls.set(piece.index, call);
    }
    if (choice.finish_reason) this.finishReason = choice.finish_reason;
  }

  /**
   * The chunk that crossed the hold, cut to `kept` of its text and marked finished for 'length'
   * (a tool call's piece cannot be cut in a way a client can use, so it is left out whole).
   */
  cutChunk(chunk: ChatCompletionChunk, kept: string): ChatCompletionChunk | undefined {
    const choice = chunk.choices?.[0];
    if (!choice) return undefined;
    const onlyText = !choice.delta?.tool_calls?.length && !choice.delta?.refusal && !reasoningOf(choice.delta ?? {});
    const delta = onlyText && kept ? { content: kept } : {};
    const cut: ChatCompletionChunk = { ...chunk, usage: undefined, choices: [{ index: choice.index, delta, finish_reason: 'length', logprobs: null }] };
    this.add(cut);
    return cut;
  }

  finish(reason: Finish): void {
    this.finishReason = reason;
  }

  toCompletion(fallbackModel: string): ChatCompletion {
    const toolCalls = [...this.calls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call);
    return {
      id: this.id || `chatcmpl-${Date.now()}`,
      object: 'chat.completion',
      created: this.created || Math.floor(Date.now() / 1000),
      model: this.model || fallbackModel,
      ...(this.fingerprint && { system_fingerprint: this.fingerprint }),
      choices: [{
        index: 0,
        message: {
          role: 'assistant',
          content: toolCalls.length && !this.content ? null : this.content,
          refusal: this.refusal,
          ...(this.reasoning && { reasoning_content: this.reasoning }),
          ...(toolCalls.length && { tool_calls: toolCalls }),
        },
        finish_reason: this.finishReason ?? 'stop',
        logprobs: null,
      }],
      ...(this.usage && { usage: this.usage }),
    };
  }
}
