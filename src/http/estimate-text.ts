// The words under the composer before sending (POST /estimate): what the prompt costs, and the most
// the turn can cost with the longest answer it could get, worked out as runTurn's reserve sizes the
// hold (the settle never charges past the hold). A warning instead when the balance does not pay
// for a turn at all.
import type { HistoryMessage } from '../chat/conversations';
import { fitPrompt, MIN_ROOM } from '../chat/turn';
import type { Translate } from '../i18n';
import { leastCompletion } from '../ledger/ledger';
import { affordableCompletion, priceOf, withMargin, type ModelInfo } from '../metering/models';
import { escapeText } from './views';

export interface EstimateFigures {
  /** The model at the user's price. */
  model: ModelInfo;
  /** The prompt as tiktoken counts it (the system prompt and the history included). */
  total: number;
  /** The prompt as the hold would count it (heldPrompt); undefined: it does not fit the model at all. */
  held: number | undefined;
  /** The max tokens setting; null: the model's own ceiling. */
  maxTokens: number | null;
  minCompletion: number;
  /** Own tokens and allowance together. */
  balance: number;
  /** What the user's own spend limits leave for one message (per message, and today's rest); null: none set. */
  allowance: number | null;
}

export function estimateHtml(t: Translate, locale: string, f: EstimateFigures): string {
  const n = (value: number) => value.toLocaleString(locale);
  const { model } = f;
  const estimate = escapeText(t('chat.estimate', { tokens: n(f.total), cost: n(priceOf(model, f.total, 0)) }));
  // As the hold is sized: the prompt held, the answer up to max tokens and the context window.
  if (f.held === undefined) return estimate; // sending is refused as too long, and says so
  const prompt = f.held;
  const cap = Math.min(f.maxTokens ?? model.maxOutput, Math.max(1, model.contextWindow - prompt));
  const least = leastCompletion({ minCompletion: f.minCompletion, maxCompletion: cap });
  const needs = priceOf(model, prompt, least);
  // Warned before sending: a balance that does not pay for the prompt and the fewest answer tokens worth calling for is refused.
  if (f.balance < needs) {
    return `${estimate} <strong>${escapeText(t('chat.estimate_short', { least: n(least), missing: n(needs - f.balance), balance: n(f.balance) }))}</strong>`;
  }
  // The longest answer the hold would pay for: the cap, shrunk to the balance and the user's own limits.
  const budget = f.allowance === null ? f.balance : Math.min(f.balance, f.allowance);
  const answer = Math.min(cap, affordableCompletion(model, prompt, budget));
  if (answer < least) return estimate; // a spend limit refuses it; sending says which
  return `${estimate} ${escapeText(t('chat.estimate_most', { most: n(priceOf(model, prompt, answer)), answer: n(answer) }))}`;
}

/**
 * The prompt as a turn would hold it: the count with the model's margin, or, when that leaves no
 * room for an answer, what fitPrompt keeps (the oldest messages left out; counted again, which is
 * rare). undefined: not even the last message fits. The most a turn costs is worked out from this.
 */
export async function heldPrompt(history: HistoryMessage[], system: string, model: ModelInfo, total: number, maxTokens: number | null): Promise<number | undefined> {
  const room = Math.min(maxTokens ?? model.maxOutput, MIN_ROOM);
  const prompt = withMargin(model, total);
  if (prompt + room <= model.contextWindow) return prompt;
  return (await fitPrompt(history, system, model, room))?.promptTokens;
}
