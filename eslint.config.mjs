// ESLint (npm run lint, run by .ci/run): ESLint's and typescript-eslint's recommended rules, the
// latter with type information, so that a promise left floating or handed where nothing awaits it
// (no-floating-promises, no-misused-promises) and `any` spreading from JSON.parse, req.body or pg
// rows (no-unsafe-*) are errors. Each rule turned off or changed says why here and in README.md
// (Development: Linting).
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default defineConfig(
  globalIgnores(['dist/', 'coverage/', 'test-results/', 'data/']),
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      // One program for src and test (tsconfig.test.json); the project service would build one per
      // tsconfig, src twice (25 s against 15 s, measured).
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A leading _ names what is unused on purpose: a field left out of a rest (`const { page: _page, ...filter }`),
      // an argument a signature requires (Express's 4-argument error handler).
      '@typescript-eslint/no-unused-vars': ['error', {
        argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_',
      }],
      // Off: `async` without `await` is how a synchronous implementation (SQLite, a test fake) meets an
      // interface that returns a Promise, its throws becoming rejections; no-floating-promises and
      // await-thenable catch the mistakes made with promises.
      '@typescript-eslint/require-await': 'off',
      // Off: the code writes `!` after an element it knows is there (`rows[0]!`, `const [a] = ...; a!`),
      // a claim to the reader that noUncheckedIndexedAccess would make necessary; the rule calls them
      // unnecessary (about 170 of its 176 findings) and would strip them.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // Passing on an error received (a callback's err, a catch's) is allowed; a rejection made with
      // something that is not an Error is still flagged.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      // no-misused-promises keeps its defaults: Express 5 awaits an async route handler (its types say
      // so), so handlers pass; an async listener (req.on('end', async ...)) does not.
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Off in tests: they read JSON answers (supertest's res.body, JSON.parse) and raw SQL rows,
      // which are `any`, and assert on their shape with expect; src keeps these rules.
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Off in tests: test/db-under-test.ts and the fakes hand out raw rows and bodies as `any`, for the same reason.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    // scripts/, the jest configs and reporters: CommonJS for node.
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
  },
  {
    // The page's progressive enhancements: a browser script.
    files: ['static/**/*.js'],
    languageOptions: { sourceType: 'script', globals: globals.browser },
  },
);
