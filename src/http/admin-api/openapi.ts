// The OpenAPI 3.1 document of the admin API, made from its route table (table.ts), so every route
// is described and nothing else is. Served at /admin/api/openapi.json.
import { pathParams, type ApiRoute } from './table';

const ERROR = {
  type: 'object', required: ['error'],
  properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } } } },
};

export const openApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}');

function operation(route: ApiRoute) {
  const parameters = [
    ...pathParams(route.path).map((name) => ({ name, in: 'path', required: true, schema: { type: 'integer', minimum: 1 } })),
    ...(route.query ?? []).map((p) => ({ name: p.name, in: p.in, required: false, schema: { type: p.type }, ...(p.description ? { description: p.description } : {}) })),
  ];
  const refusal = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
  return {
    summary: route.summary,
    tags: [route.tag],
    operationId: `${route.method}${openApiPath(route.path).replace(/[{}]/g, '').replace(/\/(\w)/g, (_m, c: string) => c.toUpperCase()).replace(/\W/g, '')}`,
    'x-scope': route.scope,
    ...(parameters.length ? { parameters } : {}),
    ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', ...route.body } } } } } : {}),
    responses: {
      [route.created ? '201' : '200']: { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } },
      401: refusal('No admin key, or one that is unknown, expired or revoked'),
      403: refusal(route.scope === 'write' ? 'A read-only key, or a member key' : 'A member key'),
      ...(route.body || route.query ? { 422: refusal('Invalid input; nothing was changed') } : {}),
      ...(pathParams(route.path).length ? { 404: refusal('No such resource') } : {}),
      429: refusal('Too many requests'),
    },
  };
}

export function openApiDocument(routes: readonly ApiRoute[]): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const route of routes) (paths[openApiPath(route.path)] ??= {})[route.method] = operation(route);
  return {
    openapi: '3.1.0',
    info: { title: 'tokenchat admin API', version: '1', description: 'Scripts an administrator runs: every change is the audited operation the admin pages run.' },
    servers: [{ url: '/admin/api' }],
    security: [{ adminKey: [] }],
    paths,
    components: {
      securitySchemes: { adminKey: { type: 'http', scheme: 'bearer', description: 'An admin API key, tca-…, made on /admin/api-keys' } },
      schemas: { Error: ERROR },
    },
  };
}
