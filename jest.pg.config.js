// `npm run test:pg`: the same suite on PostgreSQL (TEST_DATABASE_URL), each test file in a schema
// of its own. busy.test.ts is left out: it is about SQLite's file lock, which PostgreSQL has not.
const base = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  setupFiles: ['<rootDir>/test/pg-setup.js'],
  testPathIgnorePatterns: ['/node_modules/', '/test/busy\\.test\\.ts$'],
  reporters: ['default', ['<rootDir>/test/json-report.js', { file: 'jest-pg.json' }]],
};
