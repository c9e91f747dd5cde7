/** The evaluations row: one per (run, step, split, mode), whatever the environment; a retry rewrites it. */
import { upsertEvaluation } from '../db/queries';
import type { RecordEvaluationInput } from './contract';
import type { ActivityDeps } from './deps';

export function createEvaluationActivities(deps: ActivityDeps) {
  return {
    async recordEvaluation({ runId, step, policyVersion, split, mode, k, result }: RecordEvaluationInput): Promise<void> {
      const { metrics, episodes, details } = result;
      await upsertEvaluation(deps.db, {
        runId,
        step,
        split,
        mode,
        policyVersion,
        tasks: Math.round(episodes / Math.max(1, k)),
        // pass@k rows report the share of tasks solved by any of the k samples; greedy rows the share solved.
        successRate: (mode === 'greedy' ? metrics.success : metrics.passAtK) ?? metrics.success ?? 0,
        meanReward: metrics.meanReward ?? 0,
        metrics,
        episodes,
        artifactKey: details.key,
        artifactSha256: details.sha256,
      });
    },
  };
}
