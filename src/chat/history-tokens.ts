// The prompt tokens of a turn's history, from the count each message keeps (chat.ts stores a
// message's own count when its content is written): only the system prompt, the text being sent
// and messages with no count for this model's encoding (older rows, answers not yet counted) are
// counted here. The sum is exactly what countPromptTokens gives for the same messages, since the
// shares countMessageTokens gives add up to its total.
import type { HistoryMessage, TokenCounts } from './conversations';
import type { ModelInfo } from '../metering/models';
import { countMessageTokens, countsEncoding, REPLY_PRIMING } from '../metering/tokens';

export interface HistoryTokens {
  /** The whole prompt: the system prompt (when there is one), every message, and the reply priming. */
  total: number;
  /** Each history message's share of the total, in order: dropping one subtracts its share. */
  perMessage: number[];
  /** The counts made here, for the turn to store with its messages. */
  fresh: TokenCounts;
}

export async function countHistory(history: readonly HistoryMessage[], system: string, model: ModelInfo): Promise<HistoryTokens> {
  const opts = { encoding: model.encoding };
  const encoding = countsEncoding(model.id, opts);
  // A count made for another encoding (the conversation's model was changed) is not reused.
  const stored = (m: HistoryMessage): m is HistoryMessage & { tokens: number } => m.tokens != null && m.tokensEncoding === encoding;
  const hasSystem = system.trim() !== '';
  const uncounted = history.filter((m) => !stored(m)).map(({ role, content }) => ({ role, content }));
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
