// A chat completion's chunks as a Responses answer: its output items (reasoning, a message with
// its text and refusal parts, function calls), and, for a streaming client, the typed events
// (response.output_item.added, response.output_text.delta ...) as each chunk comes. The same
// chunks were counted and charged (call.ts), so what a client is sent is what it pays for.
import crypto from 'node:crypto';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { OutputItem } from './responses-input';

export type ResponseEvent = { type: string } & Record<string, unknown>;
type Message = Extract<OutputItem, { type: 'message' }>;
type Part = Message['content'][number];

const hex = () => crypto.randomBytes(12).toString('hex');

/** A response's id; its items' ids carry it (msg_<response>_<n>), so an item reference finds its response. */
export const newResponseId = () => `resp_${hex()}`;
export const responseOfItem = (itemId: string): string | undefined => /^(?:msg|fc|rs)_([0-9a-f]{24})_\d{1,4}$/.exec(itemId)?.[1];

type Delta = { content?: string | null; refusal?: string | null; reasoning_content?: unknown; reasoning?: unknown; tool_calls?: Array<{ index: number; id?: string; function?: { name?: string; arguments?: string } }> };

export class OutputBuilder {
  readonly output: OutputItem[] = [];
  private open: { item: OutputItem; index: number; call?: number } | undefined;
  private seq = 0;
  finishReason: string | null = null;

  constructor(
    private readonly responseId: string,
    /** Gets each event of a streaming answer; none for a plain one. */
    private readonly emit?: (event: ResponseEvent) => void,
  ) {}

  private send(type: string, fields: object): void {
    this.emit?.({ type, sequence_number: this.seq++, ...fields });
  }

  /** Sends an event before, between or after the items (response.created, response.completed, error). */
  event(type: string, fields: object): void {
    this.send(type, fields);
  }

  add(chunk: ChatCompletionChunk): void {
    const choice = chunk.choices?.find((c) => c.index === 0);
    if (!choice) return;
    const delta = (choice.delta ?? {}) as Delta;
    const thought = (typeof delta.reasoning_content === 'string' ? delta.reasoning_content : '') + (typeof delta.reasoning === 'string' ? delta.reasoning : '');
    if (thought) this.reasoning(thought);
    if (delta.content) this.text('output_text', delta.content);
    if (delta.refusal) this.text('refusal', delta.refusal);
    for (const piece of delta.tool_calls ?? []) this.call(piece);
    if (choice.finish_reason) this.finishReason = choice.finish_reason;
  }

  private start(item: OutputItem, call?: number): { item: OutputItem; index: number } {
    this.close();
    this.output.push(item);
    this.open = { item, index: this.output.length - 1, ...(call !== undefined && { call }) };
    this.send('response.output_item.added', { output_index: this.open.index, item: { ...item, status: 'in_progress', ...(item.type === 'message' && { content: [] }) } });
    return this.open;
  }

  private itemId(prefix: string): string {
    return `${prefix}_${this.responseId.slice(5)}_${this.output.length}`;
  }

  private reasoning(text: string): void {
    let open = this.open;
    if (open?.item.type !== 'reasoning') {
      open = this.start({ type: 'reasoning', id: this.itemId('rs'), summary: [] });
      (open.item as Extract<OutputItem, { type: 'reasoning' }>).summary.push({ type: 'summary_text', text: '' });
      this.send('response.reasoning_summary_part.added', { item_id: open.item.id, output_index: open.index, summary_index: 0, part: { type: 'summary_text', text: '' } });
    }
    (open.item as Extract<OutputItem, { type: 'reasoning' }>).summary[0]!.text += text;
    this.send('response.reasoning_summary_text.delta', { item_id: open.item.id, output_index: open.index, summary_index: 0, delta: text });
  }

  private text(kind: 'output_text' | 'refusal', text: string): void {
    let open = this.open;
    if (open?.item.type !== 'message') open = this.start({ type: 'message', id: this.itemId('msg'), status: 'completed', role: 'assistant', content: [] });
    const message = open.item as Message;
    let part = message.content.at(-1);
    if (part?.type !== kind) {
      if (part) this.partDone(message, open.index);
      part = kind === 'output_text' ? { type: 'output_text', text: '', annotations: [], logprobs: [] } : { type: 'refusal', refusal: '' };
      message.content.push(part);
      this.send('response.content_part.added', { item_id: message.id, output_index: open.index, content_index: message.content.length - 1, part: { ...part } });
    }
    const where = { item_id: message.id, output_index: open.index, content_index: message.content.length - 1 };
    if (part.type === 'output_text') {
      part.text += text;
      this.send('response.output_text.delta', { ...where, delta: text, logprobs: [] });
    } else {
      part.refusal += text;
      this.send('response.refusal.delta', { ...where, delta: text });
    }
  }

  private partDone(message: Message, index: number): void {
    const part = message.content.at(-1) as Part;
    const where = { item_id: message.id, output_index: index, content_index: message.content.length - 1 };
    if (part.type === 'output_text') this.send('response.output_text.done', { ...where, text: part.text, logprobs: [] });
    else this.send('response.refusal.done', { ...where, refusal: part.refusal });
    this.send('response.content_part.done', { ...where, part });
  }

  private call(piece: NonNullable<Delta['tool_calls']>[number]): void {
    let open = this.open;
    if (open?.item.type !== 'function_call' || open.call !== piece.index) {
      open = this.start({ type: 'function_call', id: this.itemId('fc'), status: 'completed', call_id: piece.id ?? `call_${hex()}`, name: piece.function?.name ?? '', arguments: '' }, piece.index);
    } else if (piece.function?.name) (open.item as { name: string }).name += piece.function.name;
    const args = piece.function?.arguments;
    if (!args) return;
    (open.item as { arguments: string }).arguments += args;
    this.send('response.function_call_arguments.delta', { item_id: open.item.id, output_index: open.index, delta: args });
  }

  /** Ends the item being written, with its .done events. */
  close(): void {
    const open = this.open;
    if (!open) return;
    this.open = undefined;
    const { item, index } = open;
    if (item.type === 'message' && item.content.length) this.partDone(item, index);
    if (item.type === 'function_call') this.send('response.function_call_arguments.done', { item_id: item.id, output_index: index, name: item.name, arguments: item.arguments });
    if (item.type === 'reasoning') {
      const part = item.summary[0]!;
      this.send('response.reasoning_summary_text.done', { item_id: item.id, output_index: index, summary_index: 0, text: part.text });
      this.send('response.reasoning_summary_part.done', { item_id: item.id, output_index: index, summary_index: 0, part });
    }
    this.send('response.output_item.done', { output_index: index, item });
  }

  /** The text of the message items, as the SDKs' output_text gives it. */
  get outputText(): string {
    return this.output.flatMap((i) => (i.type === 'message' ? i.content : [])).map((p) => (p.type === 'output_text' ? p.text : '')).join('');
  }
}
