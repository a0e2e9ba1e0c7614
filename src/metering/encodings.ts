// The tiktoken encodings tokenchat counts with: a module of its own, so that the counting worker
// pool (count-pool.ts) and the counting itself (tokens-text.ts), which uses the pool, both name them
// without importing each other.
export type EncodingName = 'cl100k_base' | 'o200k_base';
export const ENCODINGS: readonly EncodingName[] = ['cl100k_base', 'o200k_base'];
