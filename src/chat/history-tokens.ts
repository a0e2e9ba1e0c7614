// The prompt tokens of a turn's history, from the count each message keeps (chat.ts stores a
// message's own count when its content is written): only the system prompt, the text being sent
// and messages with no count for this model's encoding (older rows, answers not yet counted) are
// counted here. The sum is exactly what countPromptTokens gives for the same messages, since the
// shares countMessageTokens gives add up to its total.
import type { HistoryMessage, TokenCounts } from './conversations';
import type { ModelInfo } from '../metering/models';
import { countMessageTokens, countsEncoding, REPLY_PRIMING } from '../metering/tokens';
import { charsOf, contentOf, hasImages } from '../attachments/content';

export interface HistoryTokens {
  /** The whole prompt: the system prompt (when there is one), every message, and the reply priming. */
  total: number;
  /** Each history message's share of the total, in order: dropping one subtracts its share. */
  perMessage: number[];
  /** The counts made here, for the turn to store with its messages. */
  fresh: TokenCounts;
}

// A count made for another encoding (the conversation's model was changed) is not reused, nor one
// of a message with images: models of one encoding price an image differently (models file).
const keptFor = (encoding: string) => (m: HistoryMessage): m is HistoryMessage & { tokens: number } =>
  m.tokens != null && m.tokensEncoding === encoding && !hasImages(m);

/** The characters countHistory counts for these messages (the others have a count kept): what an estimate is rationed by. */
export function charsToCount(history: readonly HistoryMessage[], system: string, model: ModelInfo): number {
  const stored = keptFor(countsEncoding(model.id, { encoding: model.encoding }));
  return history.reduce((chars, m) => chars + (stored(m) ? 0 : charsOf(m)), system.trim() === '' ? 0 : system.length);
}

export async function countHistory(history: readonly HistoryMessage[], system: string, model: ModelInfo): Promise<HistoryTokens> {
  // Images by the model's own price, as /v1 counts them (metering/tokens.ts).
  const opts = { encoding: model.encoding, imageTokens: model.imageTokens };
  const encoding = countsEncoding(model.id, opts);
  const stored = keptFor(encoding);
  const hasSystem = system.trim() !== '';
  const uncounted = history.filter((m) => !stored(m)).map((m) => ({ role: m.role, content: contentOf(m, model.vision ?? false) }));
  const { counts } = await countMessageTokens(model.id, hasSystem ? [{ role: 'system', content: system }, ...uncounted] : uncounted, opts);
  let next = hasSystem ? 1 : 0;
  const fresh: TokenCounts = { encoding, text: null, messages: [] };
  const perMessage = history.map((m) => {
    if (stored(m)) return m.tokens;
    const tokens = counts[next++]!;
    if (m.id === undefined) fresh.text = tokens;
    else fresh.messages.push({ id: m.id, tokens });
    return tokens;
  });
  const total = (hasSystem ? counts[0]! : 0) + perMessage.reduce((a, b) => a + b, 0) + REPLY_PRIMING;
  return { total, perMessage, fresh };
}
