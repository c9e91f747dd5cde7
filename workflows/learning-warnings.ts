/**
 * Say when a run cannot learn: a step whose groups all got equal rewards gives the group estimators no signal
 * (and everything-0 rewards give PPO's critic nothing either), yet the policy version still climbs. Pure and
 * deterministic: the workflow calls it after each step and shows the result in its details and progress query.
 */
import type { StepMetrics } from '../activities/contract';

/** Consecutive flat steps before the run says so (fewer when the run is shorter). */
export const FLAT_STEPS_WARNING = 3;

/** The new count of consecutive steps in which no group's rewards differed. */
export function nextFlatSteps(previous: number | undefined, metrics: Pick<StepMetrics, 'informativeGroups'>): number {
  return metrics.informativeGroups === 0 ? (previous ?? 0) + 1 : 0;
}

/** The warnings to show after a step; empty while the run has something to learn from. */
export function learningWarnings(flatSteps: number, totalSteps: number, last: Pick<StepMetrics, 'meanReward' | 'successRate'> | undefined): string[] {
  if (!last || flatSteps < Math.min(FLAT_STEPS_WARNING, totalSteps)) return [];
  const head = `all groups flat for ${flatSteps} step${flatSteps === 1 ? '' : 's'}: `;
  if (last.successRate >= 1) return [`${head}the policy solves every task it draws, so there is nothing left to learn (harder tasks or split)`];
  if (last.meanReward === 0) {
    return [
      `${head}the base never succeeds on these tasks (reward 0 on every episode), so no update has a signal; ` +
        `start from a stronger base (agent.base: more sftSteps, a larger model) or easier tasks`,
    ];
  }
  return [`${head}every task is always solved or always failed within its group; raise agent.sampling.temperature or groupSize`];
}
