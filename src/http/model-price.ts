// What the composer's model picker says about each model a user may use: its name and its price
// per 1,000 tokens (per million for a very cheap one) of prompt and of answer, in balance tokens at
// the rates the user's groups give them, and which group's percent made that price. GPT-4o costs
// about 16 times GPT-4o mini: the price is shown where the model is chosen, before sending.
import type { Access } from '../groups/access';
import type { Translate } from '../i18n';
import { madeOnce } from '../made-once';
import { RATE_SCALE, type ModelInfo } from '../metering/models';

export interface ModelChoice {
  id: string;
  /** The option's text: the name and both prices, short enough for a phone's select. */
  label: string;
  /** The price in words, with the group that set it: shown beside the picker for the chosen model. */
  price: string;
}

/** Per 1K tokens, or per 1M when the cheaper nonzero rate would show less than one balance token per 1K. */
function unitFor(model: ModelInfo): 1_000 | 1_000_000 {
  const rates = [model.promptRate, model.completionRate].filter((r) => r > 0);
  const least = rates.length ? Math.min(...rates) : 0;
  return least > 0 && least * 1_000 < Number(RATE_SCALE) ? 1_000_000 : 1_000;
}

const priceFormats = new Map<string, Intl.NumberFormat>();

/**
 * A rate (millionths per raw token) times `unit` tokens, as the reader's numbers (two decimals at
 * most), by one format per locale: toLocaleString with options made one on every call, tens of
 * microseconds, twice per model each time a composer is drawn.
 */
function perUnit(rate: number, unit: number, locale: string): string {
  const format = madeOnce(priceFormats, locale, () => new Intl.NumberFormat(locale, { maximumFractionDigits: 2 }));
  return format.format((rate * unit) / Number(RATE_SCALE));
}

/** The choices of a catalogue already priced for the user (Access.catalog), in its order. */
export function modelChoices(models: readonly ModelInfo[], access: Access, t: Translate, locale: string): ModelChoice[] {
  return models.map((m) => {
    const unit = unitFor(m);
    const figures = {
      name: m.name, unit: t(unit === 1_000 ? 'chat.price_unit.k' : 'chat.price_unit.m'),
      prompt: perUnit(m.promptRate, unit, locale), completion: perUnit(m.completionRate, unit, locale),
    };
    const percent = access.percent(m.id);
    const price = percent === 100
      ? t('chat.model_price', figures)
      : t('chat.model_price_group', { ...figures, percent, group: access.from(m.id) ?? '' });
    return { id: m.id, label: t('chat.model_option', figures), price };
  });
}
