// The shapes of a chat-completions request's messages and tools that /v1 passes on: each field
// one the meter counts (metering/tokens.ts), after the openai SDK's ChatCompletionMessageParam and
// ChatCompletionTool. Every object here is strict: a field not listed would be forwarded to be
// read (and billed) by the provider without being counted, so it is refused by name instead.
import { z } from 'zod';

const name = z.string().max(256);

/** A message's content: text, nothing, or parts (each part checked by PARTS, once its type is known to be metered). */
const content = z.union([z.string(), z.null(), z.array(z.unknown())], { error: 'must be a string, null or an array of content parts' });

/** Content parts the meter counts: text, refusals and images (by the model's image price). */
export const PARTS: Record<string, z.ZodType> = {
  text: z.strictObject({ type: z.literal('text'), text: z.string() }),
  refusal: z.strictObject({ type: z.literal('refusal'), refusal: z.string() }),
  image_url: z.strictObject({
    type: z.literal('image_url'),
    image_url: z.strictObject({ url: z.string(), detail: z.enum(['auto', 'low', 'high']).optional() }),
  }),
};

const functionCall = z.strictObject({ name, arguments: z.string() });

const toolCall = z.discriminatedUnion('type', [
  z.strictObject({ id: z.string().max(256).optional(), type: z.literal('function'), function: functionCall }),
  z.strictObject({ id: z.string().max(256).optional(), type: z.literal('custom'), custom: z.strictObject({ name, input: z.string() }) }),
]);

// An assistant's `audio` (a reference to an earlier spoken answer) is billed as audio, which the
// meter cannot count: it is not listed. `reasoning_content` is what DeepSeek-style providers ask
// back with tool calls; it is counted as text.
export const message = z.discriminatedUnion('role', [
  z.strictObject({ role: z.enum(['system', 'developer', 'user']), content: content.optional(), name: name.optional() }),
  z.strictObject({
    role: z.literal('assistant'),
    content: content.optional(),
    name: name.optional(),
    refusal: z.string().nullish(),
    tool_calls: z.array(toolCall).max(128).optional(),
    function_call: functionCall.nullish(),
    reasoning_content: z.string().nullish(),
  }),
  z.strictObject({ role: z.literal('tool'), content: content.optional(), tool_call_id: z.string().max(256) }),
  z.strictObject({ role: z.literal('function'), content: content.optional(), name }),
]);

const customFormat = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('grammar'), grammar: z.strictObject({ definition: z.string(), syntax: z.enum(['lark', 'regex']) }) }),
]);

/** The tool types the meter counts; any other (web_search_preview, file_search ...) is refused naming tools.N.type. */
export const TOOL_TYPES = ['function', 'custom'] as const;

export const tool = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('function'),
    function: z.strictObject({
      name,
      description: z.string().optional(),
      // Any JSON Schema: what the cookbook's formula does not cover is counted from its JSON.
      parameters: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullish(),
    }),
  }),
  z.strictObject({
    type: z.literal('custom'),
    custom: z.strictObject({ name, description: z.string().optional(), format: customFormat.optional() }),
  }),
]);
