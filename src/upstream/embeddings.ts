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

/** Asks one provider for the input's embeddings. Throws UpstreamError, never an unusable answer. */
export async function embeddingsOf(client: OpenAI, body: EmbeddingCreateParams, signal: AbortSignal): Promise<Embedded> {
  let text: string;
  try {
    // With encoding_format given, the SDK hands back the response untouched.
    const response = await client.embeddings.create({ ...body, encoding_format: body.encoding_format ?? 'float' }, { signal }).asResponse();
    text = await response.text();
  } catch (err) {
    throw toUpstreamError(err, { midStream: false, aborted: signal.aborted, timedOut: false });
  }
  return checkedEmbeddings(text, embeddingItems(body.input).length);
}

const unusable = (why: string) => new UpstreamError('server', `the model API's embeddings are unusable: ${why}`);

/** OpenAI's embedding list, whatever content-type it came with, decoded to `count` vectors of one length. */
export function checkedEmbeddings(text: string, count: number): Embedded {
  let parsed: { data?: unknown; usage?: { prompt_tokens?: unknown } | null };
  try {
    parsed = JSON.parse(text);
  } catch {
    throw unusable('the body is not JSON');
  }
  const data = parsed?.data;
  if (!Array.isArray(data)) throw unusable('no data list');
  if (data.length !== count) throw unusable(`${data.length} items for ${count} inputs`);
  const vectors: number[][] = [];
  for (const [position, item] of data.entries()) {
    const index: unknown = item?.index ?? position;
    if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= count || vectors[index as number]) throw unusable(`item ${position} has index ${String(index)}`);
    const vector = vectorOf(item?.embedding);
    if (!vector) throw unusable(`item ${position} has no vector of numbers`);
    vectors[index as number] = vector;
  }
  if (vectors.some((v) => v.length !== vectors[0]!.length)) throw unusable('vectors of different lengths');
  const reported = parsed.usage?.prompt_tokens;
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
