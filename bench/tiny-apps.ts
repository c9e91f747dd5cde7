/**
 * The tiny apps run that bench:load and bench:pipeline train (test/integration/support/apps.ts's settings): PPO with
 * a critic, so every update has work to do even when the 20-step base solves nothing.
 */
import type { RunConfigInput } from '../config/run-config';

export const TINY_APPS_RUN = {
  env: 'apps',
  split: 'train',
  algorithm: 'ppo',
  learningRate: 1e-3,
  agent: {
    model: { layers: 1, heads: 2, width: 32, contextLength: 512 },
    base: { sftSteps: 20, demosPerTask: 1, sftBatchSize: 8 },
    sampling: { maxTurns: 4 },
    ppo: { minibatchSegments: 32 },
  },
  evaluation: { every: 0, split: 'dev', tasks: 4, passK: 0 },
} as const satisfies Partial<RunConfigInput>;
