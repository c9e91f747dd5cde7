/** The run row: written when a run starts (claiming its run id), resumes and ends, whatever the environment. */
import { ApplicationFailure } from '@temporalio/common';
import { claimRun, upsertRun } from '../db/queries';
import type { ArtifactRef } from '../common/artifacts';
import { storeConfig } from './config-ref';
import type { RecordRunInput } from './contract';
import type { ActivityDeps } from './deps';

export function createRunActivities(deps: ActivityDeps) {
  return {
    async recordRun({ runId, workflowId, config, status, stepsCompleted, execution, claim, error }: RecordRunInput): Promise<ArtifactRef> {
      const row = { runId, workflowId, env: config.env, algorithm: config.algorithm, status, stepsCompleted, config, executionId: execution, error };
      if (claim && execution) {
        // A second start of a used run id would overwrite the first run's rows: refuse it.
        if (!(await claimRun(deps.db, { ...row, executionId: execution }))) {
          throw ApplicationFailure.nonRetryable(
            `run id ${JSON.stringify(runId)} already belongs to another run; choose another runId, ` +
              `continue it with \`ratchet resume ${runId}\`, or replace it with \`ratchet start --force\``,
            'RunIdInUse',
          );
        }
      } else {
        await upsertRun(deps.db, row);
      }
      return storeConfig(deps.store, config);
    },
  };
}
