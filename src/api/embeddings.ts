// One /v1/embeddings call: the input's tokens are counted, held at the model's rate, sent, and
// settled at the provider's count (capped at the hold) or the local one. A provider error charges
// nothing; a client that goes away once the request went out is charged the input, as the
// provider bills it.
import crypto from 'node:crypto';
import { z } from 'zod';
import type { CreateEmbeddingResponse } from 'openai/resources/embeddings';
import type { ApiKey } from '../accounts/api-keys';
import { liveHolds } from '../chat/turn';
import { reserve, settleOrRead } from '../ledger/ledger';
import type { ModelInfo } from '../metering/models';
import { countText } from '../metering/tokens';
import { asUpstreamError } from '../upstream/errors';
import type { ApiDeps } from './call';
import { ApiError, badRequest } from './request';
import { clientGone, fromUpstream, inSlot, paymentRequired, tooMany } from './call';

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
  const parsed = body.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    throw badRequest(`"${issue.keys[0]}" is not a parameter tokenchat passes on.`, issue.keys[0]!, 'unsupported_parameter');
  }
  const param = issue.path.join('.') || null;
  throw badRequest(`Invalid "${param ?? 'body'}": ${issue.message}`, param);
}

/** The input's tokens as the provider counts them: each text by the model's encoding, token ids one each. */
async function inputTokens(input: EmbeddingBody['input'], model: ModelInfo): Promise<{ total: number; longest: number }> {
  const items: Array<string | number[]> = typeof input === 'string' ? [input] : typeof input[0] === 'number' ? [input as number[]] : (input as Array<string | number[]>);
  let total = 0;
  let longest = 0;
  for (const item of items) {
    const n = typeof item === 'string' ? await countText(item, model.encoding) : item.length;
    total += n;
    longest = Math.max(longest, n);
  }
  return { total, longest };
}

type EmbeddingCall = { key: ApiKey; body: EmbeddingBody; model: ModelInfo; requestId: string; signal: AbortSignal };
type EmbeddingOutcome = { status: 'done'; response: CreateEmbeddingResponse; charge: number } | { status: 'refused'; error: ApiError };

/** Runs the call in a place of the key's and of the model API's, as a chat completion does. */
export function runEmbedding(deps: ApiDeps, call: EmbeddingCall): Promise<EmbeddingOutcome> {
  return inSlot(deps, call.key, call.signal, () => reserveAndEmbed(deps, call));
}

async function reserveAndEmbed(deps: ApiDeps, call: EmbeddingCall): Promise<EmbeddingOutcome> {
  const { key, model } = call;
  const counted = await inputTokens(call.body.input, model);
  if (counted.longest > model.contextWindow) {
    return { status: 'refused', error: new ApiError(400, `An input has ${counted.longest} tokens; ${model.id} takes ${model.contextWindow}.`, 'invalid_request_error', 'context_length_exceeded', 'input') };
  }
  // One completion token is held only because a hold is priced for at least one; embedding models charge none.
  const held = await reserve(deps.store, {
    userId: key.userId, turnKey: `api-${crypto.randomUUID()}`, model, promptTokens: counted.total, maxCompletion: 1, limits: true, key, maxOpen: deps.perUser,
  });
  if (held.status === 'insufficient') return { status: 'refused', error: paymentRequired(`Your balance of ${held.balance} tokens does not pay for this input (${held.missing} more are needed).`, 'insufficient_quota') };
  if (held.status === 'over_limit') return { status: 'refused', error: paymentRequired(`A spend limit (yours or this key's) leaves ${held.allowance} tokens, less than this input costs.`, 'spend_limit_reached') };
  if (held.status === 'busy') return { status: 'refused', error: tooMany('user') };
  if (held.status !== 'held') throw new Error('a fresh turn key was found in use');
  liveHolds.add(held.hold.id);
  const started = Date.now();
  try {
    let response: CreateEmbeddingResponse;
    try {
      response = await deps.upstream.embed({ body: { ...call.body, model: model.id }, signal: call.signal });
    } catch (err) {
      const failure = asUpstreamError(err);
      if (call.signal.aborted) {
        // Gone after the request went out: the provider bills the input.
        await settleOrRead(deps.store, held.hold, { promptTokens: counted.total, completionTokens: 0, source: 'estimated', outcome: 'stopped', apiRequestId: call.requestId });
        return { status: 'refused', error: clientGone() };
      }
      await settleOrRead(deps.store, held.hold, 'release');
      return { status: 'refused', error: fromUpstream(failure) };
    }
    const reported = response.usage?.prompt_tokens;
    const byProvider = typeof reported === 'number' && Number.isSafeInteger(reported) && reported >= 0;
    const settled = await settleOrRead(deps.store, held.hold, {
      promptTokens: byProvider ? reported : counted.total, completionTokens: 0, source: byProvider ? 'reported' : 'estimated', outcome: 'ok',
      latencyMs: Date.now() - started, apiRequestId: call.requestId,
    });
    const usage = { prompt_tokens: byProvider ? reported : counted.total, total_tokens: byProvider ? reported : counted.total };
    return { status: 'done', response: { ...response, usage }, charge: settled.charge };
  } finally {
    liveHolds.delete(held.hold.id);
  }
}
