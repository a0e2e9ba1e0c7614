// Prompt tokens of a request's tools. The cookbook's num_tokens_for_tools ("How to count tokens
// with tiktoken") is exact for the shape it was fitted on: function tools whose parameters are flat
// properties with a type, a description and an enum. How a model is shown anything beyond that
// (nested objects and arrays, items, $defs and $ref, anyOf, other keywords, strict, custom tools
// and their grammars) is not published, so such a tool is counted from its JSON, which spells out
// every node with more punctuation than any rendering needs: an over-count, never an under-count,
// and the provider's reported usage settles the real figure.
import type { EncodingName } from './tokens-text';

// The cookbook fitted these to gpt-4o / gpt-4o-mini (o200k_base) and to gpt-3.5-turbo / gpt-4
// (cl100k_base); other models of each encoding are assumed to match.
export const TOOL_TOKENS = {
  o200k_base: { funcInit: 7, propInit: 3, propKey: 3, enumInit: -3, enumItem: 3, funcEnd: 12 },
  cl100k_base: { funcInit: 10, propInit: 3, propKey: 3, enumInit: -3, enumItem: 3, funcEnd: 12 },
} as const;
export type ToolTokens = (typeof TOOL_TOKENS)[EncodingName];

/** Where a tool's tokens go: fixed overheads, and text counted in the request's encoding. */
export interface ToolTally {
  add(tokens: number): void;
  text(value: unknown): Promise<void>;
}

type Json = Record<string, unknown>;
const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const isString = (value: unknown): value is string => typeof value === 'string';
const optionalString = (value: unknown) => value === undefined || isString(value);
const onlyKeys = (value: Json, allowed: readonly string[]) => Object.keys(value).every((key) => allowed.includes(key));
const asText = (value: unknown): string => (isString(value) ? value : '');
const withoutFinalPeriod = (text: string): string => (text.endsWith('.') ? text.slice(0, -1) : text);

/** A property the cookbook's formula covers: a scalar type, a description, string enum values; nothing else. */
const SCALAR_TYPES = ['string', 'number', 'integer', 'boolean'];
function isPlainProperty(schema: unknown): boolean {
  if (!isRecord(schema) || !onlyKeys(schema, ['type', 'description', 'enum'])) return false;
  if (!isString(schema.type) || !SCALAR_TYPES.includes(schema.type) || !optionalString(schema.description)) return false;
  // An empty enum would take the formula's enumInit (-3) off with nothing to add back.
  return schema.enum === undefined || (Array.isArray(schema.enum) && schema.enum.length > 0 && schema.enum.every(isString));
}

/** The function of a tool the cookbook's formula counts exactly, or undefined if it does not fit it. */
function plainFunction(tool: unknown): Json | undefined {
  if (!isRecord(tool) || tool.type !== 'function' || !onlyKeys(tool, ['type', 'function'])) return undefined;
  const fn = tool.function;
  if (!isRecord(fn) || !onlyKeys(fn, ['name', 'description', 'parameters']) || !isString(fn.name) || !optionalString(fn.description)) return undefined;
  const params = fn.parameters;
  if (params === undefined) return fn;
  if (!isRecord(params) || !onlyKeys(params, ['type', 'properties', 'required']) || params.type !== 'object' || !isRecord(params.properties)) return undefined;
  if (params.required !== undefined && !(Array.isArray(params.required) && params.required.every(isString))) return undefined;
  return Object.values(params.properties).every(isPlainProperty) ? fn : undefined;
}

export async function countTools(tools: unknown, tally: ToolTally, k: ToolTokens): Promise<void> {
  const list = Array.isArray(tools) ? tools : [];
  if (list.length === 0) return;
  for (const tool of list) {
    const fn = plainFunction(tool);
    if (fn) await countPlain(fn, tally, k);
    else await countAsJson(tool, tally, k);
  }
  tally.add(k.funcEnd);
}

// num_tokens_for_tools: per function "name:description" and per parameter "key:type:description"
// (a final period dropped), enum values, and fixed overheads fitted against the API.
async function countPlain(fn: Json, tally: ToolTally, k: ToolTokens): Promise<void> {
  tally.add(k.funcInit);
  await tally.text(`${asText(fn.name)}:${withoutFinalPeriod(asText(fn.description))}`);
  const params = isRecord(fn.parameters) && isRecord(fn.parameters.properties) ? Object.entries(fn.parameters.properties) : [];
  if (params.length > 0) tally.add(k.propInit);
  for (const [key, value] of params) {
    const schema = value as Json;
    tally.add(k.propKey);
    if (Array.isArray(schema.enum)) {
      tally.add(k.enumInit);
      for (const item of schema.enum) {
        tally.add(k.enumItem);
        await tally.text(item);
      }
    }
    await tally.text(`${key}:${asText(schema.type)}:${withoutFinalPeriod(asText(schema.description))}`);
  }
}

// The tool's JSON, plus the overheads the formula charges per function and per enum value: a
// rendering of `"a" | "b"` takes more tokens than the JSON `["a","b"]`, so enum values are charged
// what the formula charges them on top of their JSON.
async function countAsJson(tool: unknown, tally: ToolTally, k: ToolTokens): Promise<void> {
  tally.add(k.funcInit + k.enumItem * enumValues(tool));
  await tally.text(jsonOf(tool));
}

/** How many enum values a schema holds at any depth (walked without recursion: a body can nest deep). */
function enumValues(root: unknown): number {
  let count = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (!Array.isArray(node) && !isRecord(node)) continue;
    if (isRecord(node) && Array.isArray(node.enum)) count += node.enum.length;
    for (const child of Object.values(node)) stack.push(child);
  }
  return count;
}

/** JSON.stringify throws on nesting too deep for its stack; the request layer refuses such a body first. */
function jsonOf(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}
