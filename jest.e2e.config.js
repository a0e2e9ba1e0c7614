/** End-to-end tests in a real browser (Chromium through playwright-core): `npm run test:e2e`. */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/e2e'],
  testMatch: ['<rootDir>/test/e2e/**/*.e2e.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/test/e2e/tsconfig.json' }] },
  testTimeout: 30000,
  maxWorkers: 1,
  reporters: ['default', '<rootDir>/test/e2e/json-report.js'],
};
