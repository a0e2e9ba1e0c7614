// What a /v1/chat/completions request may ask for. Fields pass only from an allowlist: a field
// that changes what the provider bills in a way the meter cannot see (a priority tier, web search,
// audio, predicted outputs) is refused by name, and so is any field not known here, rather than
// forwarded to be billed to the operator. `n` is 1: a hold is sized for one completion.
import { z } from 'zod';
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

/** Content parts the meter counts: text, refusals and images (by the model's image price). */
const METERED_PARTS = new Set(['text', 'image_url', 'refusal']);

const message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.unknown().optional(),
});

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
  tools: z.array(z.looseObject({ type: z.string() })).max(128).optional(),
  tool_choice: z.union([z.string(), z.looseObject({})]).optional(),
  parallel_tool_calls: z.boolean().optional(),
  response_format: z.looseObject({ type: z.string() }).optional(),
  reasoning_effort: z.enum(['minimal', 'low', 'medium', 'high']).nullish(),
  user: z.string().max(256).optional(),
  metadata: z.record(z.string(), z.string()).nullish(),
});

export type ChatBody = z.infer<typeof body>;

/** The request, checked: a 400 naming the first field that is wrong, unknown or not metered. */
export function parseChatBody(raw: unknown): ChatBody {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw badRequest('The body must be a JSON object.');
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
  if (issue.code !== 'unrecognized_keys' && issue.path.join('.') === 'n') {
    throw badRequest('Only n = 1 is supported: a request is held and charged for one completion.', 'n', 'unsupported_value');
  }
  throw invalid(parsed.error);
}

/** The first problem zod found in a /v1 body, as a 400 naming the field (an unknown one is never passed on). */
export function invalid(error: z.ZodError): ApiError {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const field = [...issue.path, issue.keys[0]!].join('.');
    return badRequest(`"${field}" is not a parameter tokenchat passes on.`, field, 'unsupported_parameter');
  }
  const param = issue.path.join('.') || null;
  return badRequest(`Invalid "${param ?? 'body'}": ${issue.message}`, param);
}

/** Refuses content parts the meter cannot count (files, audio): the provider would bill them, the hold would not. */
function unmeteredPart(messages: ChatBody['messages']): void {
  messages.forEach((m, i) => {
    if (!Array.isArray(m.content)) return;
    m.content.forEach((part: unknown, j: number) => {
      const type = typeof part === 'object' && part !== null ? (part as { type?: unknown }).type : undefined;
      if (typeof type !== 'string' || !METERED_PARTS.has(type)) {
        throw badRequest(`Content of type "${String(type)}" is not supported here: tokenchat cannot meter it. Send text or image_url parts.`, `messages.${i}.content.${j}.type`, 'unsupported_content');
      }
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
    if (part && part.type !== 'text') extra += await countText(JSON.stringify(part), model.encoding);
  }
  return counted.total + extra;
}
