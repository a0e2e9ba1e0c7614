// What the chat forms send, validated: the message, the turn key and the "Additional inputs".
import { z } from 'zod';
import { MESSAGE_MAX, SYSTEM_MAX, TITLE_MAX, type Conversation, type Settings } from '../chat/conversations';
import { HttpError } from './http-error';
import type { MessageKey } from '../i18n';
import type { ModelCatalog } from '../metering/models';

// A field left out keeps the conversation's setting (undefined); one sent empty clears it (null).
const optionalNumber = (schema: z.ZodNumber) =>
  z.preprocess((v) => (v === '' || v === null ? null : typeof v === 'string' ? Number(v) : v), schema.nullable().optional());

const settingsSchema = z.object({
  system: z.string().max(SYSTEM_MAX).optional(),
  model: z.string().max(100).optional(),
  temperature: optionalNumber(z.number().min(0).max(2)),
  max_tokens: optionalNumber(z.number().int().min(1).max(10_000_000)),
});

const turnSchema = settingsSchema.extend({
  message: z.string().max(MESSAGE_MAX).default(''),
  example: z.string().max(MESSAGE_MAX).optional(),
  // Made by the page for each submit; a repeat of one is the same turn, charged once.
  turn_key: z.string().regex(/^[\w-]{8,100}$/),
  // "Retry with less history", offered when the provider said the context was too long.
  trim: z.literal('1').optional(),
  // The question Retry or Edit acts on (a message's own buttons); the last question when absent.
  message_id: optionalNumber(z.number().int().positive().max(Number.MAX_SAFE_INTEGER)),
});

const FIELDS = ['message', 'message_long', 'model', 'temperature', 'max_tokens', 'system', 'nothing'];

/** A 422 naming the field, wherever it is not caught to re-render the form. */
export class InputError extends HttpError {
  constructor(readonly field: string) {
    super(422, `chat.invalid.${FIELDS.includes(field) ? field : 'form'}` as MessageKey);
  }
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = String(issue?.path[0] ?? 'form');
    throw new InputError(field === 'message' && issue?.code === 'too_big' ? 'message_long' : field);
  }
  return parsed.data;
}

/** The settings of a send, falling back to the conversation's and then the first model. */
export function parseSettings(body: unknown, catalog: ModelCatalog, conversation?: Conversation): Settings {
  return settingsOf(parse(settingsSchema, body), catalog, conversation);
}

function settingsOf(s: z.infer<typeof settingsSchema>, catalog: ModelCatalog, conversation?: Conversation): Settings {
  // A conversation's model may no longer be served (the models file changed, or the API key was set).
  const saved = conversation?.model && catalog.find(conversation.model) ? conversation.model : undefined;
  const model = s.model ?? saved ?? catalog.models[0]!.id;
  if (!catalog.find(model)) throw new InputError('model');
  return {
    systemPrompt: s.system ?? conversation?.systemPrompt ?? '',
    model,
    temperature: s.temperature === undefined ? (conversation?.temperature ?? null) : s.temperature,
    maxTokens: s.max_tokens === undefined ? (conversation?.maxTokens ?? null) : s.max_tokens,
  };
}

export function parseTurn(body: unknown, catalog: ModelCatalog, conversation?: Conversation) {
  const t = parse(turnSchema, body); // the settings' fields included: parsed once
  const text = (t.message.trim() === '' ? (t.example ?? '') : t.message).trim();
  return { text, turnKey: t.turn_key, trim: t.trim === '1', target: t.message_id ?? undefined, settings: settingsOf(t, catalog, conversation) };
}

export function parseTitle(body: unknown): string {
  const title = parse(z.object({ title: z.string().trim().min(1).max(TITLE_MAX) }), body).title;
  return title.replace(/\s+/g, ' ');
}
