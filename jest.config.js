/** Two projects: `unit` (pure, no services) and `integration` (real Temporal dev server + real Postgres). */
const transform = { '^.+\\.tsx?$': ['ts-jest', { isolatedModules: true, diagnostics: false }] };

module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      // One Temporal dev server and one Postgres for the whole run, provisioned when absent.
      globalSetup: '<rootDir>/test/integration/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/integration/support/global-teardown.ts',
    },
  ],
  testTimeout: 120000,
};
