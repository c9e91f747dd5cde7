import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidRunConfigError, parseRunConfig } from '../../../workflows/config';
import { splitIntoShards } from '../../../workflows/training-run';

const example = JSON.parse(readFileSync(join(__dirname, '../../../examples/bandit.json'), 'utf8'));

describe('run config', () => {
  it('accepts the example and fills defaults', () => {
    const config = parseRunConfig(example);
    expect(config.steps).toBeGreaterThanOrEqual(20);
    expect(config.taskQueues).toEqual({ control: 'ratchet-control', cpu: 'ratchet-cpu', gpu: 'ratchet-gpu' });
    expect(config.timeouts.activityStartToClose).toBe('5m');
  });

  it.each([
    [{ steps: 0 }, 'steps'],
    [{ env: 'chess' }, 'env'],
    [{ runId: 'Has Spaces' }, 'runId'],
    [{ learningRate: -1 }, 'learningRate'],
    [{ bandit: { arms: 1 } }, 'bandit.arms'],
    [{ tasksPerStep: 99 }, 'tasksPerStep'],
    [{ timeouts: { activityHeartbeat: 'soon' } }, 'timeouts.activityHeartbeat'],
    [{ stepz: 3 }, '(root)'],
  ])('rejects %j naming %s', (patch, field) => {
    const attempt = () => parseRunConfig({ ...example, ...patch });
    expect(attempt).toThrow(InvalidRunConfigError);
    expect(attempt).toThrow(new RegExp(`${field.replace(/[.()]/g, '\\$&')}: `));
  });

  it('rejects a missing required field by name', () => {
    const { runId: _, ...rest } = example;
    expect(() => parseRunConfig(rest)).toThrow(/runId: /);
  });
});

describe('splitIntoShards', () => {
  it('covers every task once, contiguous, with global group numbers', () => {
    const ids = Array.from({ length: 7 }, (_, i) => `t${i}`);
    const shards = splitIntoShards(ids, 3);
    expect(shards.map((s) => s.taskIds.length)).toEqual([3, 2, 2]);
    expect(shards.flatMap((s) => s.taskIds)).toEqual(ids);
    expect(shards.map((s) => s.firstGroup)).toEqual([0, 3, 5]);
    expect(splitIntoShards(ids.slice(0, 2), 4)).toHaveLength(2);
  });
});
