// The models file: which models exist, how to count their tokens, and what they cost.
// Rates are fixed-point: millionths of a balance token per raw token, so charges are exact integers.
import crypto from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { httpUrl } from '../config';
import { readSettingsFile } from '../settings-file';
import { GPT4O_IMAGE_TOKENS } from './tokens';
import { query, type Op } from '../storage/op';

export const DEFAULT_MODELS_FILE = path.join(__dirname, '..', '..', 'models.json');
export const RATE_SCALE = 1_000_000n;
const SCALE = Number(RATE_SCALE);

export interface ModelInfo {
  id: string;
  name: string;
  /** The group whose rule priced the model for a user (groups/access.ts); absent: the listed price, or Everyone's rule. */
  pricedBy?: string;
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
  /** The model reads images (the models file's "vision"): the chat page attaches them only to such a model. */
  vision?: boolean;
  /** Millionths of a balance token per prompt token the provider served from its cache (promptRate unless the file says). */
  cachedRate: number;
  /**
   * Percent added to tiktoken's count of a prompt, for a model whose tokenizer is not tiktoken's:
   * the hold is sized on that estimate and the provider's reported usage settles. 0: counted exactly.
   */
  countMargin: number;
  /** Its providers in priority order, with the model's name at each; empty: the default provider. */
  routes: ReadonlyArray<ModelRoute>;
}

export interface ModelRoute {
  provider: string;
  /** The model's name at that provider. */
  model: string;
}

/** A model API the file names: where it is, the variable holding its key, and its quirks. */
export interface ProviderSpec {
  id: string;
  name: string;
  baseURL: string;
  /** The environment variable holding its key; undefined: it takes none (a local Ollama). */
  apiKeyEnv: string | undefined;
  /** Whether a streamed request may carry stream_options (some providers refuse the field). */
  streamOptions: boolean;
  /** The completion-limit parameter it takes; undefined: max_completion_tokens for reasoning models, else max_tokens. */
  maxTokensParam: 'max_tokens' | 'max_completion_tokens' | undefined;
  /** The API it speaks: chat completions (most), or OpenAI's Responses API (undefined: chat completions). */
  api?: 'chat_completions' | 'responses';
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
  /** The providers the file names (none: the one OPENAI_API_KEY and OPENAI_BASE_URL describe, or the demo model). */
  providers: ReadonlyArray<ProviderSpec>;
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
const providerId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'must be 1-40 lower-case letters, digits, _ and - (starting with a letter or digit)');
const schema = z.object({
  // The file's format: 1 is this one. A later format gets a new number, so an old server refuses it by name.
  version: z.literal(1).default(1),
  default_encoding: encoding.default('o200k_base'),
  providers: z
    .array(
      z.object({
        id: providerId,
        name: z.string().min(1).max(100).optional(),
        base_url: httpUrl,
        // The NAME of the variable holding the key: a key itself never belongs in a file.
        api_key_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,99}$/, 'must be the name of an environment variable, such as DEEPSEEK_API_KEY').optional(),
        stream_options: z.boolean().optional(),
        max_tokens_param: z.enum(['max_tokens', 'max_completion_tokens']).optional(),
        api: z.enum(['chat_completions', 'responses']).optional(),
      }).strict(),
    )
    .optional(),
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
        vision: z.boolean().optional(),
        cached_prompt_rate: rate.optional(),
        estimate_margin: z.number().int().min(0).max(200).optional(),
        providers: z
          .array(z.union([providerId, z.object({ provider: providerId, model: z.string().min(1).max(200) }).strict()]))
          .min(1, 'must name at least one provider (or leave the list out)')
          .optional(),
      }).strict(),
    )
    .min(1, 'must list at least one model'),
});

export class ModelsFileError extends Error {}

export function loadModels(file = DEFAULT_MODELS_FILE): ModelCatalog {
  const data = readSettingsFile('MODELS_FILE', file, schema, (message) => new ModelsFileError(message));
  const fail = (where: string, message: string) => new ModelsFileError(`MODELS_FILE ${file}: ${where} ${message}`);
  const providers = (data.providers ?? []).map((p, i): ProviderSpec => {
    if (data.providers!.findIndex((q) => q.id === p.id) !== i) throw fail(`providers.${i}.id`, `"${p.id}" is listed twice`);
    return Object.freeze({
      id: p.id, name: p.name ?? p.id, baseURL: p.base_url, apiKeyEnv: p.api_key_env, streamOptions: p.stream_options ?? true, maxTokensParam: p.max_tokens_param, api: p.api ?? 'chat_completions',
    });
  });
  const ids = new Set<string>();
  const models = data.models.map((m, i): ModelInfo => {
    if (ids.has(m.id)) throw new ModelsFileError(`MODELS_FILE ${file}: model "${m.id}" is listed twice`);
    ids.add(m.id);
    const routes = (m.providers ?? []).map((r, j): ModelRoute => {
      const route = typeof r === 'string' ? { provider: r, model: m.id } : r;
      if (!providers.some((p) => p.id === route.provider)) throw fail(`models.${i}.providers.${j}`, `names provider "${route.provider}", which the providers list does not have`);
      return Object.freeze(route);
    });
    return Object.freeze({
      id: m.id, name: m.name, kind: m.kind ?? 'chat', encoding: m.encoding, contextWindow: m.context_window, promptRate: m.prompt_rate, completionRate: m.completion_rate,
      maxOutput: Math.min(m.max_output ?? DEFAULT_MAX_OUTPUT, m.context_window), hiddenTokens: m.hidden_tokens ?? isReasoningModel(m.id),
      imageTokens: m.image_tokens ?? GPT4O_IMAGE_TOKENS, vision: m.vision ?? false, cachedRate: m.cached_prompt_rate ?? m.prompt_rate, countMargin: m.estimate_margin ?? 0,
      routes: Object.freeze(routes),
    });
  });
  return catalogOf(data.default_encoding, models, Object.freeze(providers));
}

function catalogOf(defaultEncoding: ModelInfo['encoding'], models: ModelInfo[], providers: ReadonlyArray<ProviderSpec>): ModelCatalog {
  const byId = new Map(models.map((m) => [m.id, m]));
  return Object.freeze({ defaultEncoding, models, providers, find: (id: string) => byId.get(id) });
}

/**
 * A prompt's count as the hold sizes it: tiktoken's, plus the model's margin when its provider
 * counts with another tokenizer (estimate_margin), rounded up.
 */
export function withMargin(model: Pick<ModelInfo, 'countMargin'>, tokens: number): number {
  return model.countMargin === 0 ? tokens : Math.ceil((tokens * (100 + model.countMargin)) / 100);
}

const MODELS_KEY = 'models_prices_sha256';

/**
 * The sha256 of what a models file charges: every model's id and each figure a charge is worked
 * out from. The processes on one database must agree on it; names and providers may differ (a
 * host may reach a provider by another address), and changing them needs no adoption.
 */
export function pricesHash(catalog: ModelCatalog): string {
  const prices = catalog.models.map((m) => [
    m.id, m.kind, m.encoding, m.contextWindow, m.promptRate, m.cachedRate, m.completionRate, m.maxOutput, m.hiddenTokens, m.imageTokens.low, m.imageTokens.high, m.countMargin,
  ]);
  return crypto.createHash('sha256').update(JSON.stringify([catalog.defaultEncoding, prices])).digest('hex');
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
      `MODELS_FILE ${file} prices the models differently from the models file the other servers on this database use (sha256 ${inUse?.slice(0, 12)}…, this one ${hash.slice(0, 12)}…): ` +
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
  return catalogOf(catalog.defaultEncoding, models, catalog.providers);
}

/**
 * The models a server offers now. A reload of the models file replaces them whole: a request reads
 * them once, so a turn keeps the model (and the prices) it started with.
 */
export class Offer {
  private both!: { all: ModelCatalog; chat: ModelCatalog };

  constructor(all: ModelCatalog) {
    this.replace(all);
  }

  /** Every model served, embedding models too (/v1). */
  get all(): ModelCatalog {
    return this.both.all;
  }

  /** The chat models: what the chat page offers. */
  get chat(): ModelCatalog {
    return this.both.chat;
  }

  replace(all: ModelCatalog): void {
    this.both = { all, chat: chatModels(all) };
  }
}

/** The hash of the prices in use on the database, if any process recorded one. */
export function* pricesInUse(): Op<string | undefined> {
  return yield* query('system.setting', { key: MODELS_KEY });
}

/** The chat models of a catalogue: what the chat page offers. */
export function chatModels(catalog: ModelCatalog): ModelCatalog {
  return catalogOf(catalog.defaultEncoding, catalog.models.filter((m) => m.kind === 'chat'), catalog.providers);
}

/**
 * The charge in balance tokens: the ceiling of the weighted sum, in exact integer arithmetic.
 * `cached` of the prompt tokens (the provider served them from its cache) are at the cached rate.
 */
export function priceOf(rates: { promptRate: number; completionRate: number; cachedRate?: number }, prompt: number, completion: number, cached = 0): number {
  const hits = Math.min(cached, prompt);
  const fresh = prompt - hits;
  const cachedRate = rates.cachedRate ?? rates.promptRate;
  const sum = fresh * rates.promptRate + hits * cachedRate + completion * rates.completionRate;
  if (Number.isSafeInteger(sum)) {
    // Every partial result is an integer below 2^53, so this is exact, and far cheaper than BigInt.
    const rest = sum % SCALE;
    return (sum - rest) / SCALE + (rest > 0 ? 1 : 0);
  }
  const micro = BigInt(fresh) * BigInt(rates.promptRate) + BigInt(hits) * BigInt(cachedRate) + BigInt(completion) * BigInt(rates.completionRate);
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
