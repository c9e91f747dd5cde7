/**
 * A tiny apps config: the text-agent pipeline in about a minute on 2 cores (not a learning benchmark).
 * PPO with a critic: a 20-step base solves nothing, so every GRPO group would be flat and dropped, and the
 * update these tests interrupt and compare would have no work to do.
 */
import { sql } from 'drizzle-orm';
import type { RunConfigInput } from '../../../config/run-config';
import { latestCheckpoint, listSteps } from '../../../db/queries';
import { type Harness, testConfig } from './harness';

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

/** What a run recorded that a resumed or faulted run must reproduce exactly: step rows, trajectory rows, last checkpoint. */
export async function recordedRun(h: Harness, runId: string) {
  const steps = (await listSteps(h.database.db, runId)).map(({ step, policyVersion, meanReward, successRate, entropy, kl, trajectories, tokens }) => ({
    step, policyVersion, meanReward, successRate, entropy, kl, trajectories, tokens,
  }));
  const trajectories = (
    await h.database.db.execute(
      sql`select step, "group", sample, task_id, policy_version, reward, success, turns, tokens, finish_reason, artifact_sha256 from trajectories where run_id = ${runId} order by step, "group", sample`,
    )
  ).rows;
  const checkpoint = await latestCheckpoint(h.database.db, runId);
  return { steps, trajectories, checkpoint: { version: checkpoint.version, sha256: checkpoint.sha256 } };
}
