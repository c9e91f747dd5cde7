#!/usr/bin/env node
// `npm test`: the unit tests, then the integration tests one file at a time (they share one Temporal dev server
// and one Postgres, which the integration project's global setup provisions when absent). Extra arguments go to
// both jest runs, e.g. `npm test -- test/unit/foundation`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';

const extra = process.argv.slice(2);
mkdirSync('.data/test', { recursive: true });
const counts = { passed: 0, failed: 0 };
const jest = (name, args) => {
  const report = `.data/test/jest-${name}.json`;
  const status = spawnSync(process.execPath, ['node_modules/jest/bin/jest.js', ...args, '--json', `--outputFile=${report}`, ...extra], { stdio: 'inherit' }).status ?? 1;
  try {
    const { numPassedTests, numFailedTests } = JSON.parse(readFileSync(report, 'utf8'));
    counts.passed += numPassedTests;
    counts.failed += numFailedTests;
  } catch {
    counts.failed += 1; // no report: the run itself broke
  }
  return status;
};

const started = Date.now();
const unit = jest('unit', ['--selectProjects', 'unit', '--passWithNoTests']);
const integration = jest('integration', ['--selectProjects', 'integration', '--runInBand', '--passWithNoTests']);
console.log(`\nnpm test: unit ${unit === 0 ? 'passed' : 'FAILED'}, integration ${integration === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
// The plain closing line CI reads: totals over both jest runs.
console.log(`tests: ${counts.passed} passed, ${counts.failed} failed`);
process.exit(unit || integration);
