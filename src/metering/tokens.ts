// Prompt tokens of a chat-completions request, counted as the OpenAI API reports
// usage.prompt_tokens. The chat-format overheads and the tools formula are those of the OpenAI
// cookbook "How to count tokens with tiktoken" (num_tokens_from_messages, num_tokens_for_tools),
// whose published example counts the tests check; tools beyond the shape it covers are counted
// from their JSON (tokens-tools.ts). Nothing here throws on odd input: whatever is not countable
// counts zero, and validating requests (refusing what cannot be counted) is the caller's job.
import { countText, ENCODINGS, Slice, type EncodingName } from './tokens-text';
import { countTools, TOOL_TOKENS } from './tokens-tools';

export { CompletionCounter, countText, countTextSync, loadEncodings } from './tokens-text';
export type { EncodingName } from './tokens-text';
export { TOOL_TOKENS } from './tokens-tools';

const O200K_MODELS = /^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|chatgpt-4o|o1|o3|o4)\b/;
const CL100K_MODELS = /^(gpt-3\.5|gpt-35|gpt-4)(-|$)/;

// The model id without a fine-tune prefix ("ft:gpt-4o-mini:org::id") or a router's provider
// prefix ("openai/gpt-4o").
function baseModel(model: unknown): string {
  if (typeof model !== 'string') return '';
  const id = model.trim().toLowerCase().replace(/^ft:/, '');
  return id.slice(id.lastIndexOf('/') + 1);
}

export function encodingForModel(model: string, fallback: EncodingName): EncodingName {
  const id = baseModel(model);
  if (O200K_MODELS.test(id)) return 'o200k_base';
  if (CL100K_MODELS.test(id)) return 'cl100k_base';
  return fallback;
}

// Each message is framed as <|start|>{role/name}\n{content}<|end|>\n. gpt-3.5-turbo-0301 spent
// one more token on the frame and dropped the role when a name was given.
export const CHAT_FORMAT = { tokensPerMessage: 3, tokensPerName: 1 } as const;
export const CHAT_FORMAT_0301 = { tokensPerMessage: 4, tokensPerName: -1 } as const;
/** Every reply is primed with <|start|>assistant<|message|>. */
export const REPLY_PRIMING = 3;
type ChatFormat = typeof CHAT_FORMAT | typeof CHAT_FORMAT_0301;

// OpenAI's published vision rule (gpt-4o, gpt-4-turbo): detail "low" costs 85 tokens; "high"
// costs 85 plus 170 per 512-px tile once the image is fit in 2048x2048 and its short side scaled
// to 768 px. A request carries no image dimensions, so "high" and "auto" are charged the most
// tiles that rule can give (a 768x2048 image: 2x4 tiles), an upper bound rather than a guess.
// Other models price images differently (gpt-4o-mini far higher): the provider's reported usage
// settles the real figure.
export const IMAGE_BASE_TOKENS = 85;
export const IMAGE_TILE_TOKENS = 170;
export const IMAGE_MAX_TILES = 8;
export const IMAGE_TOKENS_LOW = IMAGE_BASE_TOKENS;
export const IMAGE_TOKENS_HIGH = IMAGE_BASE_TOKENS + IMAGE_MAX_TILES * IMAGE_TILE_TOKENS;

/** What one image costs at detail "low" and at "high"/"auto" (the most it can): gpt-4o's rule unless a model says. */
export interface ImageTokens {
  low: number;
  high: number;
}
export const GPT4O_IMAGE_TOKENS: ImageTokens = { low: IMAGE_TOKENS_LOW, high: IMAGE_TOKENS_HIGH };

export function imageTokens(imageUrl: unknown, rule: ImageTokens = GPT4O_IMAGE_TOKENS): number {
  return isRecord(imageUrl) && imageUrl.detail === 'low' ? rule.low : rule.high;
}

export interface ChatRequest {
  model: string;
  messages: unknown[];
  tools?: unknown[];
}

export interface CountOptions {
  /** The encoding to use whatever the model (e.g. from the models file). */
  encoding?: EncodingName;
  /** The encoding for a model this module does not know; o200k_base if not given. */
  fallback?: EncodingName;
  /** The model's image prices (the models file's image_tokens); gpt-4o's rule if not given. */
  imageTokens?: ImageTokens;
}

export interface PromptCount {
  total: number;
  /** Message text, framing and reply priming. */
  messages: number;
  tools: number;
  images: number;
  encoding: EncodingName;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Running totals for one request; all its strings share one time slice. */
class Tally {
  readonly sums = { messages: 0, tools: 0, images: 0 };
  constructor(
    readonly encoding: EncodingName,
    readonly images: ImageTokens = GPT4O_IMAGE_TOKENS,
    private readonly slice = new Slice(),
  ) {}

  add(kind: keyof Tally['sums'], tokens: number): void {
    this.sums[kind] += tokens;
  }

  async text(kind: keyof Tally['sums'], value: unknown): Promise<void> {
    if (typeof value !== 'string' || value === '') return;
    const tokens = await countText(value, this.encoding, this.slice);
    this.sums[kind] += tokens;
  }
}

/** How a model's messages are counted: the encoding, and the framing of each message. */
function schemeOf(modelId: unknown, opts: CountOptions): { encoding: EncodingName; format: ChatFormat; name: string } {
  const model = baseModel(modelId);
  const wanted = opts.encoding ?? encodingForModel(model, opts.fallback ?? 'o200k_base');
  const encoding = ENCODINGS.includes(wanted) ? wanted : 'o200k_base';
  const old = model.startsWith('gpt-3.5-turbo-0301') || model.startsWith('gpt-35-turbo-0301');
  return old ? { encoding, format: CHAT_FORMAT_0301, name: `${encoding}/0301` } : { encoding, format: CHAT_FORMAT, name: encoding };
}

export async function countPromptTokens(request: ChatRequest, opts: CountOptions = {}): Promise<PromptCount> {
  const req: Record<string, unknown> = isRecord(request) ? request : {};
  const { encoding, format } = schemeOf(req.model, opts);
  const tally = new Tally(encoding, opts.imageTokens);
  for (const message of Array.isArray(req.messages) ? req.messages : []) {
    if (isRecord(message)) await countMessage(message, tally, format);
  }
  tally.add('messages', REPLY_PRIMING);
  await countTools(req.tools, { add: (n) => tally.add('tools', n), text: (v) => tally.text('tools', v) }, TOOL_TOKENS[encoding]);
  const { messages, tools, images } = tally.sums;
  return { total: messages + tools + images, messages, tools, images, encoding };
}

export interface MessageCounts {
  /** Each message's tokens (framing, role, name, content and images), in order. */
  counts: number[];
  /**
   * What the counts hold for: the encoding, marked "/0301" for that model's older framing. A
   * count kept with a message is reused only for a model of the same scheme.
   */
  encoding: string;
}

/**
 * Each message's own share of countPromptTokens: for the same model, the counts of a request's
 * messages plus REPLY_PRIMING (and the tools) add up exactly to its total, since every string is
 * counted on its own. So a message can be counted once, when written, and its count kept.
 */
export async function countMessageTokens(model: string, messages: readonly unknown[], opts: CountOptions = {}): Promise<MessageCounts> {
  const { encoding, format, name } = schemeOf(model, opts);
  const slice = new Slice();
  const counts: number[] = [];
  for (const message of messages) {
    const tally = new Tally(encoding, opts.imageTokens, slice);
    if (isRecord(message)) await countMessage(message, tally, format);
    counts.push(tally.sums.messages + tally.sums.images);
  }
  return { counts, encoding: name };
}

/** The encoding name countMessageTokens gives for a model, without counting anything. */
export function countsEncoding(model: string, opts: CountOptions = {}): string {
  return schemeOf(model, opts).name;
}

async function countMessage(message: Record<string, unknown>, tally: Tally, format: ChatFormat): Promise<void> {
  tally.add('messages', format.tokensPerMessage);
  await tally.text('messages', message.role);
  if (typeof message.name === 'string') {
    await tally.text('messages', message.name);
    tally.add('messages', format.tokensPerName);
  }
  await countContent(message.content, tally);
  // Text the model also reads: an assistant's refusal and reasoning handed back, the id a tool
  // result answers. The cookbook publishes no count for these, so they count as plain text.
  for (const field of ['refusal', 'reasoning_content', 'tool_call_id']) await tally.text('messages', message[field]);
  // Each call is rendered as a message of its own (framing, name, then a function's JSON arguments
  // or a custom tool's input). The cookbook publishes no count for this shape, so it is an
  // estimate; the legacy function_call too.
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
  for (const call of [...calls.map(calledTool), message.function_call]) {
    if (!isRecord(call)) continue;
    tally.add('messages', format.tokensPerMessage);
    await tally.text('messages', call.name);
    await tally.text('messages', call.arguments);
    await tally.text('messages', call.input);
  }
}

/** A tool call's {name, arguments} (a function) or {name, input} (a custom tool). */
const calledTool = (call: unknown): unknown => (isRecord(call) ? (call.type === 'custom' ? call.custom : call.function) : undefined);

// Content is a string or an array of parts; text (and refusal) parts count as text, image parts by
// the vision rule above, and other parts (audio, files) count zero.
async function countContent(content: unknown, tally: Tally): Promise<void> {
  if (!Array.isArray(content)) return tally.text('messages', content);
  for (const part of content) {
    if (typeof part === 'string') await tally.text('messages', part);
    else if (!isRecord(part)) continue;
    else if (part.type === 'image_url') tally.add('images', imageTokens(part.image_url, tally.images));
    else await tally.text('messages', typeof part.text === 'string' ? part.text : part.refusal);
  }
}
