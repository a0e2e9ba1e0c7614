// The routing a models file describes: one SDK client per provider (its key read from the
// variable the file names), each served model's providers, and the provider of models that name
// none: "openai", the file's or the one OPENAI_API_KEY and OPENAI_BASE_URL describe. With no
// provider at all, the offline demo model.
import { ModelsFileError, servedModels, type ModelCatalog } from '../metering/models';
import { DEMO_PROVIDER, implicitProvider, providerClient, type ClientOptions, type ProviderClient } from './client';
import type { RoutingTable } from './router';

export interface ProviderKeys {
  openaiApiKey: string | undefined;
  openaiBaseUrl: string | undefined;
  /** The value of an environment variable a provider's key is in. */
  keyOf: (name: string) => string | undefined;
}

export interface Routing {
  table: RoutingTable;
  /** The models this server offers: every one a provider serves, or only the demo model. */
  served: ModelCatalog;
  demo: boolean;
}

/** Throws ModelsFileError naming the field when a provider's key is missing or a model has no provider. */
export function routingFor(catalog: ModelCatalog, keys: ProviderKeys, opts: ClientOptions, file: string): Routing {
  const fail = (where: string, message: string) => new ModelsFileError(`MODELS_FILE ${file}: ${where} ${message}`);
  const clients: ProviderClient[] = catalog.providers.map((spec, i) => {
    const key = spec.apiKeyEnv === undefined ? undefined : keys.keyOf(spec.apiKeyEnv);
    if (spec.apiKeyEnv !== undefined && !key) throw fail(`providers.${i}.api_key_env`, `names ${spec.apiKeyEnv}, which is not set`);
    return providerClient(spec, key, opts);
  });
  if (keys.openaiApiKey && !clients.some((c) => c.spec.id === 'openai')) clients.push(providerClient(implicitProvider(keys.openaiBaseUrl), keys.openaiApiKey, opts));
  const demo = clients.length === 0;
  if (demo) clients.push(providerClient(DEMO_PROVIDER, undefined, opts));
  const served = servedModels(catalog, demo, file);
  const fallback = clients.find((c) => c.spec.id === (demo ? DEMO_PROVIDER.id : 'openai'))?.spec.id;
  const routes = new Map<string, ReadonlyArray<{ provider: string; model: string }>>();
  for (const model of served.models) {
    if (model.routes.length) routes.set(model.id, model.routes);
    else if (fallback === undefined) {
      const at = catalog.models.indexOf(model);
      throw fail(`models.${at}.providers`, `is missing: "${model.id}" names no provider, and there is no default one (set OPENAI_API_KEY, or list a provider with id "openai")`);
    }
  }
  return { table: { clients, routes, fallback }, served, demo };
}
