/**
 * Two projects: `unit` (pure, no services) and `integration` (real Temporal dev server + real Postgres).
 * Both run in node with the main realm's typed arrays shared (test/support/ort-environment.js), which
 * onnxruntime-node needs.
 */
const transform = { '^.+\\.tsx?$': ['ts-jest', { isolatedModules: true, diagnostics: false }] };

module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: '<rootDir>/test/support/ort-environment.js',
      transform,
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      displayName: 'integration',
      testEnvironment: '<rootDir>/test/support/ort-environment.js',
      transform,
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      // One Temporal dev server and one Postgres for the whole run, provisioned when absent.
      globalSetup: '<rootDir>/test/integration/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/integration/support/global-teardown.ts',
    },
  ],
  testTimeout: 120000,
};
