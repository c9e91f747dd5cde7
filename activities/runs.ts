/** The run row: written when a run starts and when it ends, whatever the environment. */
import { upsertRun } from '../db/queries';
import type { RecordRunInput } from './contract';
import type { ActivityDeps } from './deps';

export function createRunActivities(deps: ActivityDeps) {
  return {
    async recordRun({ runId, workflowId, config, status, stepsCompleted }: RecordRunInput): Promise<void> {
      await upsertRun(deps.db, { runId, workflowId, env: config.env, algorithm: config.algorithm, status, stepsCompleted, config });
    },
  };
}
