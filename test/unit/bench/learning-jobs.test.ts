/**
 * bench:learning --jobs (bench/learning-jobs.ts): each (row, seed) unit runs as a child with the parent's command
 * line, its own row, seed and folder, and no --jobs; units start longest first.
 */
import { unitArgs, unitsOf } from '../../../bench/learning-jobs';

describe('bench:learning --jobs', () => {
  test('a unit keeps every other option and sets its own row, seed and folder', () => {
    const argv = ['--rows', 'apps,single', '--jobs', '2', '--algorithms=grpo,salt', '--seeds=1,2', '--reuse', '--out', 'bench/results/x', '--steps', '30'];
    expect(unitArgs(argv, { row: 'single', seed: 2 }, 'bench/results/x/jobs/single-s2')).toEqual([
      '--algorithms=grpo,salt', '--reuse', '--steps', '30', '--rows', 'single', '--seeds', '2', '--out', 'bench/results/x/jobs/single-s2',
    ]);
  });

  test('units: every row with every seed, apps first, then multi-hop, then single-hop', () => {
    expect(unitsOf(['single', 'apps', 'multi'], [1, 2])).toEqual([
      { row: 'apps', seed: 1 }, { row: 'apps', seed: 2 }, { row: 'multi', seed: 1 }, { row: 'multi', seed: 2 }, { row: 'single', seed: 1 }, { row: 'single', seed: 2 },
    ]);
  });
});
