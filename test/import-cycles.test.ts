// The layering of src/ (issue 23): no import cycle between files, none between the top-level
// folders (storage at the bottom, routes never importing app.ts). Type-only imports count.
import fs from 'node:fs';
import path from 'node:path';
import { findCycles } from '../scripts/check-cycles';
import { tempDir } from './helpers';

function tree(files: Record<string, string>): string {
  const src = tempDir();
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(src, name)), { recursive: true });
    fs.writeFileSync(path.join(src, name), text);
  }
  return src;
}

test('src/ has no import cycle between files nor between its top-level folders', () => {
  expect(findCycles()).toEqual({ files: [], folders: [] });
});

test('the check finds a type-only cycle between files, and a cycle between folders made of files that do not loop', () => {
  const src = tree({
    'ledger/ledger.ts': "import { query } from '../storage/op';\nexport interface Hold { id: number }\n",
    'storage/op.ts': "export const query = 1;\n",
    'storage/queries/ledger.ts': "import type { Hold } from '../../ledger/ledger';\nexport type Row = Hold;\n",
    'http/app.ts': "import { routes } from './routes/auth';\nexport interface Services { a: number }\nexport const app = routes;\n",
    'http/routes/auth.ts': "import type {\n  Services,\n} from '../app';\nexport const routes = (s: Services) => s;\n",
    'config.ts': "// import { x } from './http/app'\nexport const text = \"import './http/app'\";\n",
  });
  expect(findCycles(src)).toEqual({
    files: [['http/app.ts', 'http/routes/auth.ts', 'http/app.ts']],
    folders: [['ledger', 'storage', 'ledger']],
  });
});

test('re-exports and import() types are imports too; a comment or a string that looks like one is not', () => {
  const src = tree({
    'a/one.ts': "export type { T } from '../b/two';\n",
    'b/two.ts': "export type T = import('../c/three').U;\n",
    'c/three.ts': "export type U = number;\n// import '../a/one'\nconst s = \"from '../a/one'\";\n",
  });
  expect(findCycles(src)).toEqual({ files: [], folders: [] });
  fs.appendFileSync(path.join(src, 'c/three.ts'), "export * from '../a';\n");
  fs.writeFileSync(path.join(src, 'a/index.ts'), "export * from './one';\n");
  expect(findCycles(src).folders).toEqual([['a', 'b', 'c', 'a']]);
});
