// zod schemas for what the usage, recharge and admin forms send (as form strings or JSON values).
// A bad value becomes a message key per field, and the handler answers 422 without writing anything.
import type { Request } from 'express';
import { z } from 'zod';
import { MAX_AMOUNT } from '../ledger/ledger';
import { LEDGER_KINDS } from '../reports/usage-report';
import { CODE_STATES } from '../ledger/codes';

/** A whole number of tokens from 1 to MAX_AMOUNT, written plainly ("500", or 500 in JSON). */
export const amount = z
  .union([z.string(), z.number()], { message: 'amount' })
  .transform((v) => (typeof v === 'number' ? v : v.trim()))
  .refine((v) => (typeof v === 'number' ? Number.isSafeInteger(v) : /^\d{1,13}$/.test(v)), 'amount')
  .transform(Number)
  .refine((n) => n >= 1 && n <= MAX_AMOUNT, 'amount');

/** An optional limit: empty or missing means none. */
export const optionalAmount = z
  .union([z.literal(''), z.null(), amount])
  .optional()
  .transform((v) => (v === '' || v === null || v === undefined ? null : v));

export const note = z
  .string({ message: 'note' })
  .max(500, 'note')
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/).refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d));

/** Query filters are forgiving: an unknown or malformed value is simply no filter. */
const forgiving = <T extends z.ZodType>(schema: T) => schema.optional().catch(undefined);

export const page = z.coerce.number().int().min(1).max(1_000_000).catch(1);

export const ledgerQuery = z.object({
  kind: forgiving(z.enum(LEDGER_KINDS)),
  from: forgiving(day),
  to: forgiving(day),
  page,
});

export const codesQuery = z.object({
  state: forgiving(z.enum(CODE_STATES as [string, ...string[]])),
  batch: forgiving(z.coerce.number().int().min(1)),
  page,
});

export const limitsForm = z.object({ per_message: optionalAmount, per_day: optionalAmount });

export const grantForm = z.object({
  direction: z.enum(['grant', 'deduct'], { message: 'direction' }).default('grant'),
  amount,
  note,
});

export const codesForm = z.object({
  tokens: amount,
  count: z
    .union([z.string(), z.number()])
    .transform((v) => String(v).trim())
    .refine((v) => /^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 10_000, 'count')
    .transform(Number),
  expires: z
    .union([z.literal(''), day])
    .optional()
    .transform((d) => (d ? new Date(`${d}T23:59:59.999Z`) : undefined))
    .refine((d) => d === undefined || d.getTime() > Date.now(), 'expires'),
  note,
});

/** A new API key: a name, and optionally an expiry day, the models it may use and its own spend limits. */
export const keyForm = z.object({
  name: z.string({ message: 'key_name' }).trim().min(1, 'key_name').max(60, 'key_name'),
  expires: z
    .union([z.literal(''), day], { message: 'expires' })
    .optional()
    .transform((d) => (d ? new Date(`${d}T23:59:59.999Z`) : null))
    .refine((d) => d === null || d.getTime() > Date.now(), 'expires'),
  // Checkboxes: absent (every model), one value or several.
  models: z
    .union([z.string(), z.array(z.string()).max(200)], { message: 'models' })
    .optional()
    .transform((v) => (v === undefined ? null : [...new Set(Array.isArray(v) ? v : [v])])),
  per_day: optionalAmount,
  total: optionalAmount,
  rpm: optionalAmount,
  tpm: optionalAmount,
  form_id: z.string().max(64).optional(),
});

/** Field -> message key suffix of the first problem with each field. */
export function fieldErrors(error: z.ZodError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of error.issues) {
    const field = String(issue.path[0] ?? 'form');
    out[field] ??= issue.message.match(/^[a-z_]+$/) ? issue.message : field;
  }
  return out;
}

/**
 * The fields of a form or JSON body, each unknown until the handler checks it: Express types
 * req.body as any, and a body may be missing (a GET, an empty POST) or, in JSON, not an object.
 */
export function bodyOf(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
}
