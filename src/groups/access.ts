// What a user may use and what they pay for it, by their groups (issue 24): the chat page, /v1 and
// the keys page ask here once per request. Where a user's groups disagree the most generous rule
// wins: a model is allowed if any of them allows it, at the lowest percent among those that do.
// People in no group get the built-in Everyone's rules. The price is applied by handing the turn
// a model whose rates are already scaled (`priced`): reserve records the rates on the hold and
// the settle charges by those, so a percent changed while a turn runs never changes its charge.
import type { ModelCatalog, ModelInfo } from '../metering/models';
import { query, type Op } from '../storage/op';
import type { GroupRuleRow } from '../storage/queries/groups';
import { parseModels } from './groups';

/** One group's rules, as they apply to a user. */
export interface Rule {
  name: string;
  /** Everyone's rules: the user is in no group. */
  builtin: boolean;
  /** null: every model. */
  models: string[] | null;
  pricePercent: number;
}

export interface Access {
  /** The groups whose rules apply, by name (Everyone's alone for people in no group). */
  readonly rules: readonly Rule[];
  allows(modelId: string): boolean;
  /** The percent of the listed rates the user pays for an allowed model (100 for one not allowed). */
  percent(modelId: string): number;
  /** The group whose rule gives the user the model at that percent; undefined when none allows it. */
  from(modelId: string): string | undefined;
  /** The model with its rates scaled by the user's percent, rounded up; the same model at 100. */
  priced(model: ModelInfo): ModelInfo;
  /** The catalogue as the user sees it: only the models they may use, at the rates they pay. */
  catalog(models: ModelCatalog): ModelCatalog;
}

/** ceil(rate * percent / 100) in integer arithmetic: never below the operator's share of the cost. */
export function scaledRate(rate: number, percent: number): number {
  const n = rate * percent;
  const rest = n % 100;
  return (n - rest) / 100 + (rest > 0 ? 1 : 0);
}

/** The model as a user paying `percent` of its rates sees it. */
export function pricedAt(model: ModelInfo, percent: number): ModelInfo {
  if (percent === 100) return model;
  return {
    ...model,
    promptRate: scaledRate(model.promptRate, percent),
    completionRate: scaledRate(model.completionRate, percent),
    cachedRate: scaledRate(model.cachedRate, percent),
  };
}

/** The access the rules give (pure): for each model, the cheapest rule that allows it. */
export function accessFrom(rows: readonly Rule[]): Access {
  // By name, so two groups at the same percent name the same one every time.
  const rules = [...rows].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const best = new Map<string, Rule | undefined>();
  const ruleFor = (modelId: string): Rule | undefined => {
    if (best.has(modelId)) return best.get(modelId);
    let found: Rule | undefined;
    for (const r of rules) {
      if ((r.models === null || r.models.includes(modelId)) && (!found || r.pricePercent < found.pricePercent)) found = r;
    }
    best.set(modelId, found);
    return found;
  };
  const access: Access = {
    rules,
    allows: (id) => ruleFor(id) !== undefined,
    percent: (id) => ruleFor(id)?.pricePercent ?? 100,
    from: (id) => ruleFor(id)?.name,
    priced: (model) => {
      const rule = ruleFor(model.id);
      const priced = pricedAt(model, access.percent(model.id));
      return rule && !rule.builtin ? { ...priced, pricedBy: rule.name } : priced;
    },
    catalog: (models) => {
      const usable = models.models.filter((m) => access.allows(m.id)).map((m) => access.priced(m));
      return { defaultEncoding: models.defaultEncoding, providers: models.providers, models: usable, find: (id) => usable.find((m) => m.id === id) };
    },
  };
  return access;
}

const ruleOf = (row: GroupRuleRow): Rule => ({ name: row.name, builtin: row.builtin === 1, models: parseModels(row.models), pricePercent: row.pricePercent });

/** A user's access: one read of their groups' rules (Everyone's when they are in none). */
export function* accessOf(userId: number): Op<Access> {
  return accessFrom((yield* query('groups.rulesOf', { userId })).map(ruleOf));
}
