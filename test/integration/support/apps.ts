/**
 * A tiny apps config: the text-agent pipeline in about a minute on 2 cores (not a learning benchmark).
 * PPO with a critic: a 20-step base solves nothing, so every GRPO group would be flat and dropped, and the
 * update these tests interrupt and compare would have no work to do.
 */
import type { RunConfigInput } from '../../../config/run-config';
import { testConfig } from './harness';

export function appsTestConfig(overrides: Partial<RunConfigInput> = {}) {
  return testConfig({
    env: 'apps',
    split: 'train',
    algorithm: 'ppo',
    steps: 3,
    tasksPerStep: 8,
    groupSize: 4,
    rolloutShards: 2,
    learningRate: 1e-3,
    timeouts: { activityStartToClose: '5m', activityHeartbeat: '30s', retryInitialInterval: '200ms', retryMaximumInterval: '1s' },
    agent: {
      model: { layers: 1, heads: 2, width: 32, contextLength: 512 },
      base: { sftSteps: 20, demosPerTask: 1, sftBatchSize: 8 },
      sampling: { maxTurns: 4 }, // the default maxActionTokens: SFT refuses a limit shorter than an expert action
      ppo: { minibatchSegments: 32 },
    },
    evaluation: { every: 0, split: 'dev', tasks: 8, passK: 0 },
    ...overrides,
  });
}
