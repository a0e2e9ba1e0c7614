// Types of check-cycles.js, for test/import-cycles.test.ts.
/** Every import cycle of the TypeScript tree under `src` (src/ by default), each as a path back to its start. */
export function findCycles(src?: string): { files: string[][]; folders: string[][] };
/** The import graph between files, relative to `src`. */
export function fileGraph(src?: string): Map<string, Set<string>>;
/** The same graph between top-level folders (a file directly in `src` is its own node). */
export function folderGraph(files: Map<string, Set<string>>): Map<string, Set<string>>;
