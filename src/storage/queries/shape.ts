// What every file of the catalogue builds on, apart from the catalogue itself (queries/index.ts
// gathers them all, op.ts runs them): so no file here imports the index or op.ts back.

/** A query: what it takes and what it answers. */
export type Q<P extends object, R> = { params: P; result: R };

/** What a write statement without RETURNING answers. */
export interface Changes {
  changes: number;
}
