// What a /v1/responses request may ask for (OpenAI's Responses API). As for chat completions
// (request.ts), fields pass only from an allowlist, down to each input item, content part and
// tool: built-in tools (web_search, file_search, code_interpreter, computer use, image generation,
// MCP ...) run and bill on the provider's side where the meter cannot see them, so each is refused
// by name, and so is any field or item type not known here.
import { z } from 'zod';
import { badRequest, checkDepth, invalid } from './request';

const text = z.string();
const id = z.string().max(256);

const inputPart = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('input_text'), text }),
  z.strictObject({ type: z.literal('input_image'), image_url: z.string(), detail: z.enum(['auto', 'low', 'high']).optional() }),
  // What a client sends back of an earlier answer (the AI SDK and the openai SDK echo output items);
  // only its text is passed on.
  z.strictObject({ type: z.literal('output_text'), text, annotations: z.array(z.unknown()).optional(), logprobs: z.array(z.unknown()).optional() }),
  z.strictObject({ type: z.literal('refusal'), refusal: text }),
]);

const message = z.strictObject({
  type: z.literal('message').optional(),
  id: id.optional(),
  status: z.string().max(32).optional(),
  role: z.enum(['user', 'assistant', 'system', 'developer']),
  content: z.union([text, z.array(inputPart).max(10_000)]),
});

const functionCall = z.strictObject({
  type: z.literal('function_call'), id: id.optional(), status: z.string().max(32).optional(), call_id: id, name: z.string().max(256), arguments: text,
});

const functionOutput = z.strictObject({
  type: z.literal('function_call_output'), id: id.optional(), status: z.string().max(32).optional(), call_id: id,
  output: z.union([text, z.array(z.strictObject({ type: z.literal('input_text'), text })).max(10_000)]),
});

/** An earlier reasoning item: its summary is what the client was shown; nothing of it is passed on (chat completions take none). */
const reasoning = z.looseObject({ type: z.literal('reasoning'), id: id.optional() });

const itemReference = z.strictObject({ type: z.literal('item_reference'), id });

const item = z.union([functionCall, functionOutput, reasoning, itemReference, message]);
export type InputItem = z.infer<typeof item>;

export const functionTool = z.strictObject({
  type: z.literal('function'),
  name: z.string().min(1).max(256),
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.strictObject({ type: z.literal('function'), name: z.string().max(256) }),
]);

const format = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object') }),
  z.strictObject({
    type: z.literal('json_schema'), name: z.string().min(1).max(64), schema: z.record(z.string(), z.unknown()),
    description: z.string().optional(), strict: z.boolean().nullish(),
  }),
]);

const body = z.strictObject({
  model: z.string().min(1).max(200),
  input: z.union([z.string(), z.array(item).max(10_000)]),
  instructions: z.string().nullish(),
  previous_response_id: z.string().max(256).nullish(),
  tools: z.array(functionTool).max(128).optional(),
  tool_choice: toolChoice.optional(),
  parallel_tool_calls: z.boolean().nullish(),
  // Verbosity asks for shorter or longer answers; the hold caps them either way. Not passed on.
  text: z.strictObject({ format: format.optional(), verbosity: z.enum(['low', 'medium', 'high']).nullish() }).optional(),
  max_output_tokens: z.number().int().positive().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  stream: z.boolean().nullish(),
  // Asked for, not needed: obfuscation pads events against side channels on OpenAI's own servers.
  stream_options: z.strictObject({ include_obfuscation: z.boolean().optional() }).nullish(),
  store: z.boolean().nullish(),
  reasoning: z.strictObject({ effort: z.enum(['minimal', 'low', 'medium', 'high']).nullish(), summary: z.string().nullish() }).nullish(),
  // Extra output a provider could add (logprobs, encrypted reasoning): not given here, so asking changes nothing.
  include: z.array(z.string().max(100)).max(20).nullish(),
  truncation: z.literal('disabled').nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  user: z.string().max(256).optional(),
  // What Codex CLI and the AI SDK may send to steer OpenAI's cache and abuse checks: accepted, not passed on.
  prompt_cache_key: z.string().max(256).nullish(),
  safety_identifier: z.string().max(256).nullish(),
});

export type ResponsesBody = z.infer<typeof body>;

/** Fields the provider bills by that the meter cannot count or cap, or that tokenchat does not run. */
const REFUSED: Record<string, string> = {
  service_tier: 'it changes what the provider bills in a way tokenchat cannot meter',
  background: 'responses run while their request is open here, never in the background',
  conversation: 'continue a conversation with previous_response_id instead',
  prompt: 'stored prompt templates are read on the provider\'s side, where tokenchat cannot count them',
  max_tool_calls: 'only function tools are supported, and those run on your side',
};

/** The item types a client may send; any other (web_search_call, computer_call_output ...) belongs to a built-in tool. */
const ITEM_TYPES = ['message', 'function_call', 'function_call_output', 'reasoning', 'item_reference'];

/** The request, checked: a 400 naming the first field that is wrong, unknown, a built-in tool or not metered. */
export function parseResponsesBody(raw: unknown): ResponsesBody {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw badRequest('The body must be a JSON object.');
  checkDepth(raw);
  const fields = raw as Record<string, unknown>;
  for (const [field, why] of Object.entries(REFUSED)) {
    if (fields[field] !== undefined && fields[field] !== null) throw badRequest(`"${field}" is not supported here: ${why}.`, field, 'unsupported_parameter');
  }
  refuseBuiltInTools(fields.tools, fields.tool_choice);
  refuseOtherItems(fields.input);
  const parsed = body.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw invalid(parsed.error);
}

const typeOf = (v: unknown): unknown => (typeof v === 'object' && v !== null ? (v as { type?: unknown }).type : undefined);
const named = (v: unknown): string => (typeof v === 'string' ? v.slice(0, 100) : typeof v);

function refuseBuiltInTools(tools: unknown, choice: unknown): void {
  if (Array.isArray(tools)) {
    tools.forEach((t, i) => {
      const type = typeOf(t);
      if (type !== 'function') {
        throw badRequest(`Tools of type "${named(type)}" are not supported here: built-in tools run and bill on the provider's side, where tokenchat cannot meter them. Only "function" tools are.`,
          `tools.${i}.type`, 'unsupported_tool');
      }
    });
  }
  const chosen = typeOf(choice);
  if (chosen !== undefined && chosen !== 'function') {
    throw badRequest(`tool_choice of type "${named(chosen)}" is not supported here: only function tools are.`, 'tool_choice', 'unsupported_tool');
  }
}

/** The content part types a message may carry: text and images, which the meter counts. */
const PART_TYPES = ['input_text', 'input_image', 'output_text', 'refusal'];

function refuseOtherItems(input: unknown): void {
  if (!Array.isArray(input)) return;
  input.forEach((it, i) => {
    const type = typeOf(it);
    if (type !== undefined && !ITEM_TYPES.includes(type as string)) {
      throw badRequest(`Input items of type "${named(type)}" are not supported here: tokenchat passes on ${ITEM_TYPES.join(', ')} items.`, `input.${i}.type`, 'unsupported_value');
    }
    const content: unknown = typeof it === 'object' && it !== null ? (it as { content?: unknown }).content : undefined;
    if (!Array.isArray(content)) return;
    content.forEach((part, j) => {
      const partType = typeOf(part);
      if (!PART_TYPES.includes(partType as string)) {
        throw badRequest(`Content of type "${named(partType)}" is not supported here: tokenchat cannot meter it. Send ${PART_TYPES.slice(0, 2).join(' or ')} parts.`,
          `input.${i}.content.${j}.type`, 'unsupported_content');
      }
    });
  });
}
