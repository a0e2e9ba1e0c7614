// One /v1/embeddings call: the input's tokens are counted, held at the model's rate, sent, and
// settled at the provider's count (capped at the hold) or the local one. A provider error charges
// nothing, and so does an answer that is not one usable vector per input; a client that goes away
// once the request went out is charged the input, as the provider bills it. The client gets its
// vectors in the encoding it asked for, whichever the provider used.
import { z } from 'zod';
import type { ApiKey } from '../accounts/api-keys';
import { servedUsage, settleOrRead, type Hold } from '../ledger/ledger';
import type { ModelInfo } from '../metering/models';
import { countText } from '../metering/tokens';
import { asUpstreamError } from '../upstream/errors';
import type { Served } from '../upstream/client';
import { base64Vector, embeddingItems, type Embedded } from '../upstream/embeddings';
import { fromUpstream, inSlot, stoppedBy, withHold, type ApiDeps } from './call';
import { checkDepth, ApiError, invalid } from './request';

const MAX_INPUTS = 2048;

const tokenIds = z.array(z.number().int().min(0)).min(1);
const body = z.strictObject({
  model: z.string().min(1).max(200),
  input: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(MAX_INPUTS), tokenIds, z.array(tokenIds).min(1).max(MAX_INPUTS)]),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().min(1).max(100_000).optional(),
  user: z.string().max(256).optional(),
});

export type EmbeddingBody = z.infer<typeof body>;

export function parseEmbeddingBody(raw: unknown): EmbeddingBody {
  checkDepth(raw);
  const parsed = body.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw invalid(parsed.error);
}

/** The input's tokens as the provider counts them: each text by the model's encoding, token ids one each. */
async function countInput(input: EmbeddingBody['input'], model: ModelInfo): Promise<{ total: number; longest: number }> {
  let total = 0;
  let longest = 0;
  for (const item of embeddingItems(input)) {
    const n = typeof item === 'string' ? await countText(item, model.encoding) : item.length;
    total += n;
    longest = Math.max(longest, n);
  }
  return { total, longest };
}

type EmbeddingCall = { key: ApiKey; body: EmbeddingBody; model: ModelInfo; requestId: string; signal: AbortSignal };
/** OpenAI's embedding list; each vector a number array, or base64 of float32s when the client asked for base64. */
export interface EmbeddingList {
  object: 'list';
  data: Array<{ object: 'embedding'; index: number; embedding: number[] | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}
type EmbeddingOutcome = { status: 'done'; response: EmbeddingList; charge: number } | { status: 'refused'; error: ApiError };

/** Runs the call in a place of the key's and of the model API's, as a chat completion does. */
export function runEmbedding(deps: ApiDeps, call: EmbeddingCall): Promise<EmbeddingOutcome> {
  return inSlot(deps, call.key, call.signal, () => reserveAndEmbed(deps, call));
}

async function reserveAndEmbed(deps: ApiDeps, call: EmbeddingCall): Promise<EmbeddingOutcome> {
  const { key, model } = call;
  const counted = await countInput(call.body.input, model);
  if (counted.longest > model.contextWindow) {
    return { status: 'refused', error: new ApiError(400, `An input has ${counted.longest} tokens; ${model.id} takes ${model.contextWindow}.`, 'invalid_request_error', 'context_length_exceeded', 'input') };
  }
  // One completion token is held only because a hold is priced for at least one; embedding models charge none.
  return withHold(deps, key, model, counted.total, 1, { pays: 'this input', below: 'this input costs' }, (hold) => embed(deps, call, hold, counted.total));
}

async function embed(deps: ApiDeps, call: EmbeddingCall, hold: Hold, inputTokens: number): Promise<EmbeddingOutcome> {
  const { model } = call;
  const started = Date.now();
  let response: Embedded;
  let served: Served | undefined;
  const { model: _m, ...rest } = call.body;
  try {
    response = await deps.upstream.embed({ body: rest, model: model.id, signal: call.signal, onProvider: (s) => (served = s) });
  } catch (err) {
    const failure = asUpstreamError(err);
    if (call.signal.aborted) {
      // Gone after the request went out: the provider bills the input.
      await settleOrRead(deps.store, hold, { promptTokens: inputTokens, completionTokens: 0, source: 'estimated', outcome: 'stopped', apiRequestId: call.requestId, ...servedUsage(served) });
      return { status: 'refused', error: stoppedBy(call.signal) };
    }
    await settleOrRead(deps.store, hold, 'release', served);
    return { status: 'refused', error: fromUpstream(failure) };
  }
  const charged = response.promptTokens;
  const settled = await settleOrRead(deps.store, hold, {
    promptTokens: charged ?? inputTokens, completionTokens: 0, source: charged === undefined ? 'estimated' : 'reported', outcome: 'ok',
    latencyMs: Date.now() - started, apiRequestId: call.requestId, ...servedUsage(served),
  });
  const usage = { prompt_tokens: charged ?? inputTokens, total_tokens: charged ?? inputTokens };
  const base64 = call.body.encoding_format === 'base64';
  const data = response.vectors.map((v, index) => ({ object: 'embedding' as const, index, embedding: base64 ? base64Vector(v) : v }));
  return { status: 'done', response: { object: 'list', data, model: model.id, usage }, charge: settled.charge };
}
