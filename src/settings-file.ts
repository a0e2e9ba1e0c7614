// Reading a settings file an operator writes (the models file, the packages file): JSON checked
// by a zod schema, every problem reported as `<SETTING> <file>: <field> <what is wrong>`.
import fs from 'node:fs';
import type { z } from 'zod';

/** The file's content as the schema reads it; throws `fail(message)` naming the file and the first fields in error. */
export function readSettingsFile<S extends z.ZodType>(setting: string, file: string, schema: S, fail: (message: string) => Error): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw fail(`${setting} ${file}: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')} ${i.message}`);
    throw fail(`${setting} ${file}: ${first.join('; ')}`);
  }
  return parsed.data;
}
