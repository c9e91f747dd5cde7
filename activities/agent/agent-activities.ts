/**
 * The step activities for the text agents (apps, deepsearch): thin wrappers that call trainer/phases.ts, add
 * heartbeats, and write the Postgres rows. Every write is keyed (run, step, group, sample / version), so a
 * retried activity rewrites the same artifacts and rows.
 */
import { ApplicationFailure } from '@temporalio/common';
import { and, eq } from 'drizzle-orm';
import { trajectoryOutcomes, upsertCheckpoint, upsertStep, upsertTasks, upsertTrajectories } from '../../db/queries';
import { checkpoints } from '../../db/schema';
import {
  advantagesPhase,
  checkRewardsPhase,
  envOf,
  evaluatePhase,
  initPolicyPhase,
  PhaseContext,
  publishedPolicy,
  recordPhase,
  rolloutPhase,
  scorePhase,
  selectTasksPhase,
  syncPhase,
  updatePhase,
} from '../../trainer/phases';
import { PolicyCache } from '../../trainer/policy-bundle';
import type { ArtifactRef, EnvStepActivities } from '../contract';
import { artifactKeys } from '../../common/artifact-keys';
import { putJson } from '../../common/artifacts';
import { type ActivityDeps, heartbeat, stepRow } from '../deps';
import type { RunConfig } from '../../config/run-config';

/** The gpu activities here train the built-in policy; an llm policy's gpu queue is the Python worker's. */
function requireBuiltinPolicy(config: RunConfig): void {
  if (config.agent.policy.kind === 'builtin') return;
  throw ApplicationFailure.nonRetryable(
    `agent.policy.kind "${config.agent.policy.kind}" trains on the Python torch worker, not this TypeScript gpu worker: ` +
      `point taskQueues.gpu at the torch worker's queue (default "ratchet-torch") and start it with \`npm run ratchet -- workers --torch\``,
    'InvalidRunConfig',
  );
}

export function createAgentActivities(deps: ActivityDeps): EnvStepActivities {
  const ctx: PhaseContext = { store: deps.store, policies: new PolicyCache(deps.store), states: new Map(), heartbeat };

  /** The frozen reference is the run's base checkpoint (version 0), found through Postgres. */
  async function referenceOf(runId: string): Promise<ArtifactRef> {
    const [row] = await deps.db.select().from(checkpoints).where(and(eq(checkpoints.runId, runId), eq(checkpoints.version, 0)));
    if (!row) throw new Error(`run ${runId} has no base checkpoint (version 0)`);
    return { key: row.artifactKey, sha256: row.sha256 };
  }

  /** The checkpoint row of a version: its artifact reference, and the step that wrote it. */
  const recordCheckpoint = (runId: string, checkpoint: ArtifactRef & { version: number; step: number }) =>
    upsertCheckpoint(deps.db, { runId, version: checkpoint.version, step: checkpoint.step, artifactKey: checkpoint.key, sha256: checkpoint.sha256 });

  return {
    async initPolicy({ runId, config }) {
      requireBuiltinPolicy(config);
      const policy = await initPolicyPhase(ctx, runId, config);
      await recordCheckpoint(runId, { ...policy.checkpoint, version: 0, step: 0 });
      if (policy.sft) await putJson(deps.store, artifactKeys.baseSft(runId), policy.sft);
      return { version: policy.version, key: policy.key, sha256: policy.sha256, checkpoint: policy.checkpoint };
    },

    async selectTasks(input) {
      const { runId, step, config } = input;
      const { taskIds, sampler } = await selectTasksPhase(ctx, input, () => trajectoryOutcomes(deps.db, runId, step));
      const env = envOf(config);
      await upsertTasks(
        deps.db,
        taskIds.map((id) => env.task(id)).map((t) => ({ env: config.env, taskId: t.id, split: t.split, template: t.template, level: t.level, scenario: t.scenario })),
      );
      return { taskIds, sampler };
    },

    rolloutBatch: (input) => rolloutPhase(ctx, input),

    async checkRewards(input) {
      const { rows: _rows, ...result } = await checkRewardsPhase(ctx, input);
      return result;
    },

    async scoreBatch({ runId, step, config, rollouts, rewards, policy }) {
      requireBuiltinPolicy(config);
      return scorePhase(ctx, { runId, step, config, rollouts, rewards, policy: publishedPolicy(policy), reference: await referenceOf(runId) });
    },

    computeAdvantages: (input) => advantagesPhase(ctx, input),

    async updatePolicy(input) {
      requireBuiltinPolicy(input.config);
      const result = await updatePhase(ctx, { ...input, policy: publishedPolicy(input.policy), reference: await referenceOf(input.runId) });
      await recordCheckpoint(input.runId, result.checkpoint);
      return result;
    },

    async syncWeights({ runId, config, checkpoint }) {
      requireBuiltinPolicy(config);
      return syncPhase(ctx, runId, checkpoint);
    },

    async recordStep(input) {
      const { trajectories, tokens, metrics } = await recordPhase(ctx, input);
      // The Python worker that trains an llm policy writes artifacts only; its checkpoint rows are written here.
      if (input.config.agent.policy.kind === 'llm') await recordCheckpoint(input.runId, input.checkpoint);
      await upsertTrajectories(deps.db, trajectories.map((row) => ({ runId: input.runId, ...row })));
      await upsertStep(deps.db, stepRow(input, { trajectories: trajectories.length, tokens }, metrics));
    },

    async evaluatePolicy({ runId, step, config, policy, split, tasks, mode, k }) {
      return evaluatePhase(ctx, { runId, step, config, policy, split, tasks, mode, k });
    },
  };
}
