#!/usr/bin/env node
// `npm test`: the unit tests, then the integration tests one file at a time (they share one Temporal dev server
// and one Postgres, which the integration project's global setup provisions when absent). Extra arguments go to
// both jest runs, e.g. `npm test -- test/unit/foundation`.
import { spawnSync } from 'node:child_process';

const extra = process.argv.slice(2);
const jest = (args) => spawnSync(process.execPath, ['node_modules/jest/bin/jest.js', ...args, ...extra], { stdio: 'inherit' }).status ?? 1;

const started = Date.now();
const unit = jest(['--selectProjects', 'unit', '--passWithNoTests']);
const integration = jest(['--selectProjects', 'integration', '--runInBand', '--passWithNoTests']);
console.log(`\nnpm test: unit ${unit === 0 ? 'passed' : 'FAILED'}, integration ${integration === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(unit || integration);
