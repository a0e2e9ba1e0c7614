// openid-client and oidc-provider (with jose and oauth4webapi) are ES modules only; Node loads them
// with require, but jest's module system (before Node 24.9) cannot: ts-jest compiles them to CommonJS.
const ESM_ONLY = 'openid-client|oauth4webapi|jose|oidc-provider';
const esmOnly = {
  transform: { [`/node_modules/(${ESM_ONLY})/.+\\.js$`]: ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', target: 'ES2022', esModuleInterop: true }, isolatedModules: true }] },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY})/)`],
};

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }], ...esmOnly.transform },
  transformIgnorePatterns: esmOnly.transformIgnorePatterns,
  testTimeout: 30000,
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/test/json-report.js'],
};
