import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidRunConfigError, parseRunConfig } from '../../../config/run-config';
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
    [{ algorithm: 'ppo' }, 'algorithm'],
    [{ algorithm: 'dpo' }, 'algorithm'],
    [{ split: 'single/train' }, 'split'],
    [{ evaluation: { split: 'holdout' } }, 'evaluation.split'],
    [{ evaluation: { passK: 17 } }, 'evaluation.passK'],
    [{ evaluation: { every: -1 } }, 'evaluation.every'],
    [{ apps: { seed: 1, extra: true } }, 'apps'],
    [{ deepsearch: { passages: 100 } }, 'deepsearch.passages'],
    [{ agent: { model: { layers: 0 } } }, 'agent.model.layers'],
    [{ agent: { base: { demoHabit: 1.5 } } }, 'agent.base.demoHabit'],
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

describe('environment sections, splits and evaluation', () => {
  const load = (name: string) => JSON.parse(readFileSync(join(__dirname, '../../../examples', name), 'utf8'));

  it('fills the env sections, the agent settings and the evaluation defaults', () => {
    const config = parseRunConfig(example);
    expect(config.split).toBe('train');
    expect(config.evaluation).toEqual({ every: 0, split: 'dev', tasks: 0, passK: 0 });
    expect(config.apps).toEqual({ seed: 1 });
    expect(config.deepsearch).toEqual({ seed: 0, passages: 10_000, family: 'single' });
    expect(config.agent.kl.coef).toBeGreaterThanOrEqual(0);
  });

  it('defaults deepsearch splits to the family and checks them by env', () => {
    const base = { runId: 'ds', env: 'deepsearch', steps: 2 };
    expect(parseRunConfig(base)).toMatchObject({ split: 'single/train', evaluation: { split: 'single/dev' } });
    expect(parseRunConfig({ ...base, deepsearch: { family: 'multi' } })).toMatchObject({ split: 'multi/train', evaluation: { split: 'multi/dev' } });
    expect(() => parseRunConfig({ ...base, split: 'train' })).toThrow(/split: unknown deepsearch split "train"; expected one of single\/train/);
    expect(() => parseRunConfig({ ...base, algorithm: 'reinforce' })).toThrow(/algorithm: /);
    expect(parseRunConfig({ ...base, algorithm: 'reinforce_pp' }).algorithm).toBe('reinforce_pp');
  });

  it('accepts the apps examples with the sizes they promise', () => {
    const small = parseRunConfig(load('apps-small.json'));
    expect(small).toMatchObject({ env: 'apps', split: 'train', tasksPerStep: 8, groupSize: 4, steps: 3, evaluation: { split: 'dev', tasks: 8 } });
    expect(small.agent.model).toMatchObject({ layers: 1, heads: 2, width: 64, contextLength: 512 });
    expect(small.agent.base).toMatchObject({ sftSteps: 40, demosPerTask: 1 });
    expect(parseRunConfig(load('apps.json'))).toMatchObject({ env: 'apps', algorithm: 'grpo', tasksPerStep: 8, groupSize: 4, steps: 30 });
  });

  it('a parsed config parses again to itself (the evaluation child re-validates it)', () => {
    const config = parseRunConfig(load('apps-small.json'));
    expect(parseRunConfig(JSON.parse(JSON.stringify(config)))).toEqual(config);
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
