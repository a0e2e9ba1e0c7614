// One provider's embeddings, checked. The SDK's embeddings.create cannot be trusted with the
// answer: given no encoding_format it asks for base64 and decodes whatever comes back as base64
// (a provider's number arrays become empty vectors), and a body without a JSON content-type comes
// back as a string. So the provider is asked for exactly the format the client asked for (float
// when it said none), the body is read as text and parsed here, either encoding is accepted, and
// anything that is not one usable vector per input is a failure of the provider's: the caller
// releases the hold, and the router may try the next provider.
import type OpenAI from 'openai';
import type { EmbeddingCreateParams } from 'openai/resources/embeddings';
import { toUpstreamError, UpstreamError } from './errors';

/** A provider's answer, checked: one vector per input, in the inputs' order. */
export interface Embedded {
  vectors: number[][];
  /** The provider's count of the input's tokens, when it gave a whole number. */
  promptTokens?: number;
}

/** What an embeddings input holds: one text, one list of token ids, or a list of either. */
export function embeddingItems(input: EmbeddingCreateParams['input']): Array<string | number[]> {
  if (typeof input === 'string' || typeof input[0] === 'number') return [input as string | number[]];
  return input as Array<string | number[]>;
}

/** The longest vector accepted from a provider (today's models give at most 4,096; some 8,192). */
export const MAX_DIMENSIONS = 8192;
/** Bytes one number may take in a provider's JSON ("-0.012345678901234567," is 22), and room for the rest. */
const BYTES_PER_NUMBER = 24;
const BODY_SLACK = 64 * 1024;
/** Never more than this, however many inputs: a body this large parses for seconds on the event loop. */
const MAX_BODY_BYTES = 256 * 1024 * 1024;

/** The most a usable answer to `count` inputs of `dimensions` can take: a hostile provider is cut off there. */
export function maxBodyBytes(count: number, dimensions = MAX_DIMENSIONS): number {
  return Math.min(MAX_BODY_BYTES, count * dimensions * BYTES_PER_NUMBER + BODY_SLACK);
}

/** Asks one provider for the input's embeddings. Throws UpstreamError, never an unusable answer. */
export async function embeddingsOf(client: OpenAI, body: EmbeddingCreateParams, signal: AbortSignal): Promise<Embedded> {
  const count = embeddingItems(body.input).length;
  let text: string | undefined;
  try {
    // With encoding_format given, the SDK hands back the response untouched.
    const response = await client.embeddings.create({ ...body, encoding_format: body.encoding_format ?? 'float' }, { signal }).asResponse();
    text = await boundedText(response, maxBodyBytes(count, body.dimensions));
  } catch (err) {
    throw toUpstreamError(err, { midStream: false, aborted: signal.aborted, timedOut: false });
  }
  if (text === undefined) throw unusable('the body is larger than any answer to this request can be');
  return checkedEmbeddings(text, count, body.dimensions);
}

/**
 * The body as text, or undefined once it passes `limit` bytes (leaving the loop ends the body: the
 * rest is not read). The body is async-iterable whether it is a web stream or the Node stream
 * upstream/http-fetch.ts hands over.
 */
async function boundedText(response: Response, limit: number): Promise<string | undefined> {
  if (!response.body) return '';
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const part of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += part.byteLength;
    if (size > limit) return undefined;
    parts.push(part);
  }
  return Buffer.concat(parts).toString('utf8');
}

const unusable = (why: string) => new UpstreamError('server', `the model API's embeddings are unusable: ${why}`);

/**
 * OpenAI's embedding list, whatever content-type it came with, decoded to `count` vectors of one
 * length: `dimensions` when the client asked for it, and never more than MAX_DIMENSIONS.
 */
export function checkedEmbeddings(text: string, count: number, dimensions?: number): Embedded {
  // Any JSON: a field read off null is guarded, one read off a number or a string is undefined.
  let parsed: { data?: unknown; usage?: { prompt_tokens?: unknown } | null } | null;
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    throw unusable('the body is not JSON');
  }
  const data = parsed?.data;
  if (!Array.isArray(data)) throw unusable('no data list');
  if (data.length !== count) throw unusable(`${data.length} items for ${count} inputs`);
  const vectors: number[][] = [];
  for (const [position, item] of (data as Array<{ index?: unknown; embedding?: unknown } | null>).entries()) {
    const index: unknown = item?.index ?? position;
    if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= count || vectors[index as number]) throw unusable(`item ${position} has index ${String(index)}`);
    const vector = vectorOf(item?.embedding);
    if (!vector) throw unusable(`item ${position} has no vector of numbers`);
    vectors[index as number] = vector;
  }
  if (vectors.some((v) => v.length !== vectors[0]!.length)) throw unusable('vectors of different lengths');
  const length = vectors[0]?.length ?? 0;
  if (dimensions !== undefined ? length !== dimensions : length > MAX_DIMENSIONS) {
    throw unusable(`vectors of ${length} numbers${dimensions !== undefined ? ` where ${dimensions} were asked for` : ''}`);
  }
  const reported = parsed?.usage?.prompt_tokens;
  return { vectors, ...(typeof reported === 'number' && Number.isSafeInteger(reported) && reported >= 0 && { promptTokens: reported }) };
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** A vector given as numbers or as base64 of little-endian float32s; undefined when empty or not numbers. */
function vectorOf(embedding: unknown): number[] | undefined {
  let vector: unknown[];
  if (typeof embedding === 'string') {
    const bytes = BASE64.test(embedding) ? Buffer.from(embedding, 'base64') : undefined;
    if (!bytes || bytes.length % 4 !== 0) return undefined;
    vector = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
  } else if (Array.isArray(embedding)) {
    vector = embedding;
  } else {
    return undefined;
  }
  if (vector.length === 0 || !vector.every((x) => typeof x === 'number' && Number.isFinite(x))) return undefined;
  return vector as number[];
}

/** A vector as base64 of little-endian float32s, as OpenAI sends it when asked for base64. */
export function base64Vector(vector: number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((x, i) => bytes.writeFloatLE(x, i * 4));
  return bytes.toString('base64');
}
