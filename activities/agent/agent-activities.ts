/**
 * The step activities for the text agents (apps, deepsearch): thin wrappers that call trainer/phases.ts, add
 * heartbeats, and write the Postgres rows. Every write is keyed (run, step, group, sample / version), so a
 * retried activity rewrites the same artifacts and rows.
 */
import { and, asc, eq, lt } from 'drizzle-orm';
import { upsertCheckpoint, upsertStep, upsertTasks, upsertTrajectories } from '../../db/queries';
import { checkpoints, trajectories as trajectoryRows } from '../../db/schema';
import { backendInfo } from '../../policy/backend';
import {
  advantagesPhase,
  checkRewardsPhase,
  envOf,
  evaluatePhase,
  initPolicyPhase,
  PhaseContext,
  PublishedPolicy,
  RewardRow,
  rolloutPhase,
  scorePhase,
  selectTasksPhase,
  syncPhase,
  updatePhase,
} from '../../trainer/phases';
import { PolicyCache } from '../../trainer/policy-bundle';
import type { ArtifactRef, EnvStepActivities, PolicyRef } from '../contract';
import { artifactKeys, stepKey } from '../../common/artifact-keys';
import { getJson, putJson } from '../../common/artifacts';
import { type ActivityDeps, heartbeat, stepRow } from '../deps';

function published(ref: PolicyRef): PublishedPolicy {
  if (!ref.checkpoint) throw new Error(`policy v${ref.version} has no checkpoint reference: not a text-agent policy`);
  return { ...ref, checkpoint: ref.checkpoint };
}

export function createAgentActivities(deps: ActivityDeps): EnvStepActivities {
  const ctx: PhaseContext = { store: deps.store, policies: new PolicyCache(deps.store), states: new Map(), heartbeat };

  /** The frozen reference is the run's base checkpoint (version 0), found through Postgres. */
  async function referenceOf(runId: string): Promise<ArtifactRef> {
    const [row] = await deps.db.select().from(checkpoints).where(and(eq(checkpoints.runId, runId), eq(checkpoints.version, 0)));
    if (!row) throw new Error(`run ${runId} has no base checkpoint (version 0)`);
    return { key: row.artifactKey, sha256: row.sha256 };
  }

  return {
    async initPolicy({ runId, config }) {
      const policy = await initPolicyPhase(ctx, runId, config);
      await upsertCheckpoint(deps.db, { runId, version: 0, step: 0, artifactKey: policy.checkpoint.key, sha256: policy.checkpoint.sha256 });
      if (policy.sft) await putJson(deps.store, artifactKeys.baseSft(runId), policy.sft);
      return { version: policy.version, key: policy.key, sha256: policy.sha256, checkpoint: policy.checkpoint };
    },

    async selectTasks({ runId, step, config }) {
      const history = await deps.db
        .select({ step: trajectoryRows.step, taskId: trajectoryRows.taskId, success: trajectoryRows.success })
        .from(trajectoryRows)
        .where(and(eq(trajectoryRows.runId, runId), lt(trajectoryRows.step, step)))
        .orderBy(asc(trajectoryRows.step), asc(trajectoryRows.group), asc(trajectoryRows.sample));
      const taskIds = selectTasksPhase(config, step, history);
      const env = envOf(config);
      await upsertTasks(
        deps.db,
        taskIds.map((id) => env.task(id)).map((t) => ({ env: config.env, taskId: t.id, split: t.split, template: t.template, level: t.level, scenario: t.scenario })),
      );
      return { taskIds };
    },

    rolloutBatch: (input) => rolloutPhase(ctx, input),

    async checkRewards({ runId, step, config, rollouts }) {
      const { rows: _rows, ...result } = await checkRewardsPhase(ctx, runId, step, config, rollouts);
      return result;
    },

    async scoreBatch({ runId, step, config, rollouts, rewards, policy }) {
      return scorePhase(ctx, { runId, step, config, rollouts, rewards, policy: published(policy), reference: await referenceOf(runId) });
    },

    async computeAdvantages({ runId, step, config, rewards, rollouts, scores }) {
      if (!rollouts || !scores) throw new Error('computeAdvantages: text agents need the rollouts and scores references');
      const { advantages, flatGroups } = await advantagesPhase(ctx, { runId, step, config, rollouts, rewards, scores });
      return { advantages, flatGroups };
    },

    async updatePolicy({ runId, step, config, policy, rollouts, scores, advantages, learningRate, klCoef }) {
      const { checkpoint, metrics } = await updatePhase(ctx, {
        runId,
        step,
        config,
        policy: published(policy),
        reference: await referenceOf(runId),
        rollouts,
        scores,
        advantages,
        learningRate,
        klCoef,
      });
      await upsertCheckpoint(deps.db, { runId, version: checkpoint.version, step: checkpoint.step, artifactKey: checkpoint.key, sha256: checkpoint.sha256 });
      await putJson(deps.store, stepKey(runId, step, 'update-metrics.json'), { ...metrics, backend: backendInfo().backend });
      return { checkpoint, kl: metrics.ppoKl };
    },

    async syncWeights({ runId, checkpoint }) {
      return syncPhase(ctx, runId, checkpoint);
    },

    async recordStep(input) {
      const { runId, step, rewards, policyVersion, metrics } = input;
      const rows = await getJson<RewardRow[]>(deps.store, rewards);
      await upsertTrajectories(
        deps.db,
        rows.map((r) => ({
          runId,
          step,
          group: r.group,
          sample: r.sample,
          taskId: r.taskId,
          policyVersion,
          reward: r.reward,
          success: r.success,
          turns: r.turns,
          tokens: r.tokens,
          finishReason: r.finishReason,
          envErrors: r.envErrors,
          artifactKey: r.shard.key,
          artifactSha256: r.shard.sha256,
        })),
      );
      const update = await deps.store
        .get(stepKey(runId, step, 'update-metrics.json'))
        .then((bytes) => JSON.parse(new TextDecoder().decode(bytes)) as Record<string, number | string>)
        .catch(() => ({}));
      const tokens = rows.reduce((n, r) => n + r.tokens, 0);
      await upsertStep(
        deps.db,
        stepRow(input, { trajectories: rows.length, tokens }, {
          ...metrics,
          ...update,
          meanTurns: rows.reduce((n, r) => n + r.turns, 0) / Math.max(1, rows.length),
          meanTokens: tokens / Math.max(1, rows.length),
          rolloutTokensPerSecond: metrics.wallMs > 0 ? tokens / (metrics.wallMs / 1000) : 0,
        }),
      );
    },

    async evaluatePolicy({ runId, step, config, policy, split, tasks, mode, k }) {
      return evaluatePhase(ctx, { runId, step, config, policy, split, tasks, mode, k });
    },
  };
}
