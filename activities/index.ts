/**
 * The activities each worker pool registers. Every step activity dispatches on `input.config.env`, so the
 * cpu and gpu workers serve all environments in the registry.
 */
import { saveStepState } from '../db/queries';
import type { CpuActivities, GpuActivities } from './contract';
import type { ActivityDeps } from './deps';
import { createEvaluationActivities } from './evaluations';
import { createDemonstrationActivities } from './llm-demonstrations';
import { EnvActivityRegistry } from './registry';
import { createRunActivities } from './runs';

export type { ActivityDeps } from './deps';

export function createCpuActivities(deps: ActivityDeps): CpuActivities {
  const envs = new EnvActivityRegistry(deps);
  return {
    ...createRunActivities(deps),
    ...createEvaluationActivities(deps),
    ...createDemonstrationActivities(deps),
    selectTasks: (input) => envs.for(input.config.env).selectTasks(input),
    rolloutBatch: (input) => envs.for(input.config.env).rolloutBatch(input),
    checkRewards: (input) => envs.for(input.config.env).checkRewards(input),
    computeAdvantages: (input) => envs.for(input.config.env).computeAdvantages(input),
    async recordStep(input) {
      await envs.for(input.config.env).recordStep(input);
      // The resume point is env-independent: saved beside the step row the environment has just written.
      await saveStepState(deps.db, input.runId, input.step, input.resume);
    },
    evaluatePolicy: (input) => envs.for(input.config.env).evaluatePolicy(input),
  };
}

export function createGpuActivities(deps: ActivityDeps): GpuActivities {
  const envs = new EnvActivityRegistry(deps);
  return {
    initPolicy: (input) => envs.for(input.config.env).initPolicy(input),
    scoreBatch: (input) => envs.for(input.config.env).scoreBatch(input),
    updatePolicy: (input) => envs.for(input.config.env).updatePolicy(input),
    syncWeights: (input) => envs.for(input.config.env).syncWeights(input),
  };
}
