/**
 * `ratchet resume <runId>`: continue a failed or terminated run from its last recorded step, under the same
 * workflow id. The loop state after each step is saved beside its step row (steps.state), so the resumed
 * execution starts exactly where an uninterrupted run would be; every activity derives its randomness from
 * (config.seed, step, ...), so the later steps are identical to an uninterrupted run with the same seed.
 */
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import type { ResumePoint } from '../activities/contract';
import type { Database } from '../db/client';
import { deleteRun, getRun, latestStepState } from '../db/queries';
import { parseRunConfig } from '../config/run-config';
import type { LoopState } from '../workflows/training-run';
import { startOptions, workflowIdFor } from './start';

/** Statuses a run can be resumed from; RUNNING and COMPLETED cannot (CONTINUED_AS_NEW is never the latest). */
const RESUMABLE = new Set(['FAILED', 'TERMINATED', 'CANCELLED', 'TIMED_OUT']);

export interface Resumed {
  handle: WorkflowHandle;
  /** Steps already recorded, from which the resumed execution continues. */
  fromStep: number;
  /** The status of the execution it replaces (`NOT_FOUND` when Temporal no longer knows it). */
  previousStatus: string;
}

export async function resumeRun(client: Client, db: Database, runId: string): Promise<Resumed> {
  const run = await getRun(db, runId);
  if (!run) throw new Error(`no run ${JSON.stringify(runId)} in Postgres (ratchet status lists the runs)`);
  const config = parseRunConfig(run.config);
  const workflowId = workflowIdFor(runId);

  const previousStatus = await client.workflow
    .getHandle(workflowId)
    .describe()
    .then((d) => d.status.name as string)
    .catch((err) => {
      if (err instanceof WorkflowNotFoundError) return 'NOT_FOUND';
      throw err;
    });
  if (previousStatus !== 'NOT_FOUND' && !RESUMABLE.has(previousStatus)) {
    throw new Error(`run ${runId} (workflow ${workflowId}) is ${previousStatus}; only a failed or terminated run can be resumed`);
  }

  const saved = await latestStepState(db, runId);
  const point = saved?.state as ResumePoint | undefined;
  // No step recorded yet: start over, as a fresh start that claims the run id again.
  if (!point) await deleteRun(db, runId);
  const carried: LoopState | undefined = point && {
    step: point.step,
    policy: point.policy,
    learningRate: point.learningRate,
    klCoef: point.klCoef,
    curriculum: point.curriculum,
    rolloutPolicies: point.rolloutPolicies,
    paused: false,
    stopRequested: false,
    resumed: true,
  };
  const handle = await client.workflow.start('trainingRun', {
    ...startOptions(config),
    args: carried ? [config, carried] : [config],
    // A duplicate id is allowed only after a failed, terminated, cancelled or timed-out execution.
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
  });
  return { handle, fromStep: point?.step ?? 0, previousStatus };
}
