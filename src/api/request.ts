// What a /v1/chat/completions request may ask for. Fields pass only from an allowlist, down to
// each message, content part and tool (chat-shapes.ts): a field that changes what the provider
// bills in a way the meter cannot see (a priority tier, web search, audio, predicted outputs) is
// refused by name, and so is any field or tool type not known here, rather than forwarded to be
// billed to the operator. `n` is 1: a hold is sized for one completion.
import { z } from 'zod';
import { message, PARTS, tool, TOOL_TYPES } from './chat-shapes';
import { countPromptTokens, countText } from '../metering/tokens';
import type { ModelInfo } from '../metering/models';

/** An OpenAI-shaped refusal of a request: status, message, and the field it is about. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new ApiError(400, message, 'invalid_request_error', code, param);

/** Fields the provider bills by that the meter cannot count or cap. */
const UNMETERED = new Set(['service_tier', 'web_search_options', 'modalities', 'audio', 'prediction']);

const body = z.strictObject({
  model: z.string().min(1).max(200),
  messages: z.array(message).min(1).max(10_000),
  stream: z.boolean().optional(),
  stream_options: z.strictObject({ include_usage: z.boolean().optional() }).nullish(),
  max_tokens: z.number().int().positive().nullish(),
  max_completion_tokens: z.number().int().positive().nullish(),
  n: z.literal(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  seed: z.number().int().nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  logit_bias: z.record(z.string(), z.number()).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  tools: z.array(tool).max(128).optional(),
  tool_choice: z.union([z.string(), z.looseObject({})]).optional(),
  parallel_tool_calls: z.boolean().optional(),
  response_format: z.looseObject({ type: z.string() }).optional(),
  reasoning_effort: z.enum(['minimal', 'low', 'medium', 'high']).nullish(),
  user: z.string().max(256).optional(),
  metadata: z.record(z.string(), z.string()).nullish(),
});

export type ChatBody = z.infer<typeof body>;

/** A value from the request named in a message: never String() on it (an object's toString may be anything, or throw). */
const nameOf = (value: unknown): string => (typeof value === 'string' ? value.slice(0, 100) : typeof value);

/** Deeper than any real schema; deep enough nesting would overflow the stack of JSON.stringify (a 500, not a 400). */
export const MAX_JSON_DEPTH = 64;

/** Refuses a body nested deeper than MAX_JSON_DEPTH (walked without recursion). */
export function checkDepth(raw: unknown): void {
  const stack: Array<[unknown, number]> = [[raw, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > MAX_JSON_DEPTH) throw badRequest(`The body is nested more than ${MAX_JSON_DEPTH} levels deep.`, null, 'too_deep');
    for (const child of Object.values(node)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
}

/** The request, checked: a 400 naming the first field that is wrong, unknown or not metered. */
export function parseChatBody(raw: unknown): ChatBody {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw badRequest('The body must be a JSON object.');
  checkDepth(raw);
  for (const field of Object.keys(raw)) {
    if (UNMETERED.has(field)) {
      throw badRequest(`"${field}" is not supported here: it changes what the provider bills in a way tokenchat cannot meter.`, field, 'unsupported_parameter');
    }
  }
  const parsed = body.safeParse(raw);
  if (parsed.success) {
    unmeteredPart(parsed.data.messages);
    return parsed.data;
  }
  const issue = parsed.error.issues[0]!;
  const param = issue.path.join('.');
  if (issue.code !== 'unrecognized_keys' && param === 'n') {
    throw badRequest('Only n = 1 is supported: a request is held and charged for one completion.', 'n', 'unsupported_value');
  }
  if (issue.code === 'invalid_union' && /^tools\.\d+\.type$/.test(param)) {
    const type = nameOf((raw as { tools: Array<{ type?: unknown }> }).tools[issue.path[1] as number]!.type);
    throw badRequest(`Tools of type "${type}" are not supported here: tokenchat meters ${TOOL_TYPES.join(' and ')} tools.`, param, 'unsupported_value');
  }
  throw invalid(parsed.error);
}

/** The first problem zod found in a /v1 body (or in the part of it at `at`), as a 400 naming the field (an unknown one is never passed on). */
export function invalid(error: z.ZodError, at: readonly PropertyKey[] = []): ApiError {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const field = [...at, ...issue.path, issue.keys[0]!].join('.');
    return badRequest(`"${field}" is not a parameter tokenchat passes on.`, field, 'unsupported_parameter');
  }
  const param = [...at, ...issue.path].join('.') || null;
  return badRequest(`Invalid "${param ?? 'body'}": ${issue.message}`, param);
}

/** Refuses content parts the meter cannot count (files, audio): the provider would bill them, the hold would not. */
function unmeteredPart(messages: ChatBody['messages']): void {
  messages.forEach((m, i) => {
    if (!Array.isArray(m.content)) return;
    m.content.forEach((part: unknown, j: number) => {
      const type = typeof part === 'object' && part !== null ? (part as { type?: unknown }).type : undefined;
      const shape = typeof type === 'string' && Object.hasOwn(PARTS, type) ? PARTS[type]! : undefined;
      if (!shape) {
        throw badRequest(`Content of type "${nameOf(type)}" is not supported here: tokenchat cannot meter it. Send text or image_url parts.`, `messages.${i}.content.${j}.type`, 'unsupported_content');
      }
      const checked = shape.safeParse(part);
      if (!checked.success) throw invalid(checked.error, ['messages', i, 'content', j]);
    });
  });
}

/**
 * The prompt's tokens as the provider will count them: messages (text, images, names, tool calls)
 * and tools, plus a response format's schema and a tool choice, which the provider also reads.
 */
export async function promptTokensOf(req: ChatBody, model: ModelInfo): Promise<number> {
  const counted = await countPromptTokens({ model: model.id, messages: req.messages, tools: req.tools }, { encoding: model.encoding, imageTokens: model.imageTokens });
  let extra = 0;
  for (const part of [req.response_format, typeof req.tool_choice === 'object' ? req.tool_choice : undefined]) {
    // { "type": "text" } alone adds nothing the provider reads; anything more is counted as its JSON.
    if (part && (part.type !== 'text' || Object.keys(part).length > 1)) extra += await countText(JSON.stringify(part), model.encoding);
  }
  return counted.total + extra;
}
