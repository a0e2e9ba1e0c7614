// The models file: which models exist, how to count their tokens, and what they cost.
// Rates are fixed-point: millionths of a balance token per raw token, so charges are exact integers.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { GPT4O_IMAGE_TOKENS } from './tokens';
import { query, type Op } from '../storage/op';

export const DEFAULT_MODELS_FILE = path.join(__dirname, '..', '..', 'models.json');
export const RATE_SCALE = 1_000_000n;
const SCALE = Number(RATE_SCALE);

export interface ModelInfo {
  id: string;
  name: string;
  /** A chat model (the chat page, /v1/chat/completions) or an embedding model (/v1/embeddings). */
  kind: 'chat' | 'embedding';
  encoding: 'cl100k_base' | 'o200k_base';
  contextWindow: number;
  /** Millionths of a balance token per prompt token. */
  promptRate: number;
  completionRate: number;
  /** Completion tokens a turn asks for when the user sets no max tokens. */
  maxOutput: number;
  /**
   * The provider bills hidden (reasoning) tokens that arrive only in the final usage: a stopped
   * answer is read on, unseen, until that usage comes, so Stop cannot make the reasoning free.
   */
  hiddenTokens: boolean;
  /** Tokens one image is billed as, at detail "low" and at most at "high" (gpt-4o's rule unless the file says). */
  imageTokens: { low: number; high: number };
}

/** Reasoning models (o1, o3, o4-mini, gpt-5 ...): their hidden tokens are billed as completion tokens. */
export const REASONING_MODEL = /^(o\d|gpt-5)/;

/** Whether a model id names a reasoning model (the default of hidden_tokens). */
export function isReasoningModel(id: string): boolean {
  const name = id.trim().toLowerCase().replace(/^ft:/, '');
  return REASONING_MODEL.test(name.slice(name.lastIndexOf('/') + 1));
}

/** Completion tokens asked for when neither the user nor the models file says. */
export const DEFAULT_MAX_OUTPUT = 2048;

export interface ModelCatalog {
  defaultEncoding: ModelInfo['encoding'];
  models: ModelInfo[];
  find(id: string): ModelInfo | undefined;
}

// A rate is a plain decimal number from 0 to 1000 with at most six decimal places.
const rate = z
  .union([z.number(), z.string()])
  .transform((v) => String(v))
  .refine((s) => /^\d{1,4}(\.\d{1,6})?$/.test(s) && Number(s) <= 1000, 'must be a number from 0 to 1000 with at most 6 decimals')
  .transform((s) => {
    const [whole, frac = ''] = s.split('.');
    return Number(whole) * 1_000_000 + Number(frac.padEnd(6, '0'));
  });

const encoding = z.enum(['cl100k_base', 'o200k_base']);
const schema = z.object({
  // The file's format: 1 is this one. A later format gets a new number, so an old server refuses it by name.
  version: z.literal(1).default(1),
  default_encoding: encoding.default('o200k_base'),
  models: z
    .array(
      z.object({
        id: z.string().regex(/^[\w.:/-]{1,100}$/, 'must be 1-100 characters of letters, digits and _ . : / -'),
        name: z.string().min(1).max(100),
        kind: z.enum(['chat', 'embedding']).optional(),
        encoding,
        context_window: z.number().int().min(16).max(100_000_000),
        prompt_rate: rate,
        completion_rate: rate,
        max_output: z.number().int().min(1).max(10_000_000).optional(),
        hidden_tokens: z.boolean().optional(),
        // What one image is billed as (gpt-4o-mini's are far more tokens than gpt-4o's, at a lower rate).
        image_tokens: z.object({ low: z.number().int().min(0).max(10_000_000), high: z.number().int().min(0).max(10_000_000) }).strict().optional(),
      }).strict(),
    )
    .min(1, 'must list at least one model'),
});

export class ModelsFileError extends Error {}

export function loadModels(file = DEFAULT_MODELS_FILE): ModelCatalog {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ModelsFileError(`MODELS_FILE ${file}: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')} ${i.message}`);
    throw new ModelsFileError(`MODELS_FILE ${file}: ${first.join('; ')}`);
  }
  const ids = new Set<string>();
  const models = parsed.data.models.map((m): ModelInfo => {
    if (ids.has(m.id)) throw new ModelsFileError(`MODELS_FILE ${file}: model "${m.id}" is listed twice`);
    ids.add(m.id);
    return Object.freeze({
      id: m.id, name: m.name, kind: m.kind ?? 'chat', encoding: m.encoding, contextWindow: m.context_window, promptRate: m.prompt_rate, completionRate: m.completion_rate,
      maxOutput: Math.min(m.max_output ?? DEFAULT_MAX_OUTPUT, m.context_window), hiddenTokens: m.hidden_tokens ?? isReasoningModel(m.id),
      imageTokens: m.image_tokens ?? GPT4O_IMAGE_TOKENS,
    });
  });
  return catalogOf(parsed.data.default_encoding, models);
}

function catalogOf(defaultEncoding: ModelInfo['encoding'], models: ModelInfo[]): ModelCatalog {
  const byId = new Map(models.map((m) => [m.id, m]));
  return Object.freeze({ defaultEncoding, models, find: (id: string) => byId.get(id) });
}

const MODELS_KEY = 'models_file_sha256';

/** The sha256 of a models file's bytes: what the processes on one database must agree on. */
export function modelsFileHash(file = DEFAULT_MODELS_FILE): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * Prices cannot differ between hosts: the first process on a database records its models file's
 * hash, and a process whose file differs refuses to start, naming the file, until the operator
 * adopts the new file (`tokenchat models adopt`) after giving it to every host.
 */
export function* checkModelsInUse(hash: string, file: string): Op<void> {
  yield* query('system.claimSetting', { key: MODELS_KEY, value: hash });
  const inUse = yield* query('system.setting', { key: MODELS_KEY });
  if (inUse !== hash) {
    throw new ModelsFileError(
      `MODELS_FILE ${file} differs from the models file the other servers on this database use (sha256 ${inUse?.slice(0, 12)}…, this one ${hash.slice(0, 12)}…): ` +
        'give every host the same file, then run "tokenchat models adopt" once',
    );
  }
}

/** Makes this models file the one in use on the database (after it was given to every host). */
export function* adoptModels(hash: string): Op<void> {
  yield* query('system.putSetting', { key: MODELS_KEY, value: hash });
}

export const DEMO_MODEL_ID = 'demo';

/**
 * The models a server offers. With the offline demo model (no OPENAI_API_KEY), only it: a canned
 * reply is never billed at a real model's rates. With a real model API, all but it: the API would
 * not know it, and it must not be the first (default) model.
 */
export function servedModels(catalog: ModelCatalog, demo: boolean, file = DEFAULT_MODELS_FILE): ModelCatalog {
  const models = catalog.models.filter((m) => (m.id === DEMO_MODEL_ID) === demo);
  if (models.length === 0) {
    throw new ModelsFileError(
      demo
        ? `MODELS_FILE ${file}: no "${DEMO_MODEL_ID}" model, which is what the server offers while OPENAI_API_KEY is not set`
        : `MODELS_FILE ${file}: no model but "${DEMO_MODEL_ID}"; list the models your API serves`,
    );
  }
  return catalogOf(catalog.defaultEncoding, models);
}

/** The chat models of a catalogue: what the chat page offers. */
export function chatModels(catalog: ModelCatalog): ModelCatalog {
  return catalogOf(catalog.defaultEncoding, catalog.models.filter((m) => m.kind === 'chat'));
}

/** The charge in balance tokens: the ceiling of the weighted sum, in exact integer arithmetic. */
export function priceOf(rates: { promptRate: number; completionRate: number }, prompt: number, completion: number): number {
  const sum = prompt * rates.promptRate + completion * rates.completionRate;
  if (Number.isSafeInteger(sum)) {
    // Every partial result is an integer below 2^53, so this is exact, and far cheaper than BigInt.
    const rest = sum % SCALE;
    return (sum - rest) / SCALE + (rest > 0 ? 1 : 0);
  }
  const micro = BigInt(prompt) * BigInt(rates.promptRate) + BigInt(completion) * BigInt(rates.completionRate);
  return Number((micro + RATE_SCALE - 1n) / RATE_SCALE);
}

/** The most completion tokens `budget` pays for after the prompt (Infinity when completions are free). */
export function affordableCompletion(rates: { promptRate: number; completionRate: number }, prompt: number, budget: number): number {
  const left = BigInt(budget) * RATE_SCALE - BigInt(prompt) * BigInt(rates.promptRate);
  if (left < 0n) return -1;
  if (rates.completionRate === 0) return Number.POSITIVE_INFINITY;
  return Number(left / BigInt(rates.completionRate));
}

/** A rate as the decimal text it was written as. */
export function formatRate(micro: number): string {
  return (micro / 1_000_000).toFixed(6).replace(/\.?0+$/, '');
}

/** The models with their rates as the pages show them (decimal text). */
export function withRateText(models: ModelInfo[]) {
  return models.map((m) => ({ ...m, prompt: formatRate(m.promptRate), completion: formatRate(m.completionRate) }));
}
