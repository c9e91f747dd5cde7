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
    },
  ],
  testTimeout: 120000,
};
