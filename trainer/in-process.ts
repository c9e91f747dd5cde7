/**
 * The same training run without Temporal: trainer/step.ts's step, with the phases of trainer/phases.ts called
 * in this process and an in-memory record of what the activities would write to Postgres. It takes the same
 * run config, produces the same trajectories and checkpoints, and is the baseline for measuring what the
 * durable pipeline costs.
 */
import type { ResumePoint, StepActivities, StepMetrics, UpdateMetrics } from '../activities/contract';
import type { ArtifactStore } from '../common/artifacts';
import type { RunConfig } from '../config/run-config';
import {
  advantagesPhase,
  checkRewardsPhase,
  evaluatePhase,
  initPolicyPhase,
  PhaseContext,
  PublishedPolicy,
  publishedPolicy,
  recordPhase,
  releaseContext,
  rolloutPhase,
  scorePhase,
  selectTasksPhase,
  syncPhase,
  TrajectoryRecord,
  updatePhase,
} from './phases';
import { PolicyCache } from './policy-bundle';
import { evaluationModes } from './step';
import { StepPipeline } from './step-pipeline';

/** One step as the in-process trainer reports it: the step's metrics (entropy: the scored batch's), with the update's flattened in. */
export type InProcessStep = { step: number; policyVersion: number; phaseMs: Record<string, number> } & UpdateMetrics & Omit<StepMetrics, 'update'>;

export interface InProcessResult {
  policy: PublishedPolicy;
  steps: InProcessStep[];
  /** What the activities would record in Postgres: a row per trajectory, and each checkpoint version. */
  trajectories: TrajectoryRecord[];
  checkpoints: { version: number; step: number; sha256: string }[];
  evaluations: { step: number; split: string; mode: string; metrics: Record<string, number> }[];
}

export async function trainInProcess(
  config: RunConfig,
  store: ArtifactStore,
  opts: { onStep?: (step: InProcessStep) => void; log?: (line: string) => void } = {},
): Promise<InProcessResult> {
  if (config.agent.policy.kind !== 'builtin') {
    throw new Error('the in-process trainer trains the built-in policy; an llm policy trains through Temporal with the torch worker (`ratchet workers --torch`)');
  }
  const ctx: PhaseContext = {
    store,
    policies: new PolicyCache(store),
    states: new Map(),
    heartbeat: (details) => {
      const sft = details as { phase?: string; step?: number; loss?: number } | undefined;
      if (sft?.phase === 'sft' && sft.step! % 20 === 0) opts.log?.(`  sft step ${sft.step}/${config.agent.base.sftSteps}  loss ${sft.loss!.toFixed(3)}`);
    },
  };
  const { runId } = config;
  const result: InProcessResult = { policy: undefined!, steps: [], trajectories: [], checkpoints: [], evaluations: [] };

  try {
    opts.log?.('building the base policy');
    const base = await initPolicyPhase(ctx, runId, config);
    result.checkpoints.push({ version: 0, step: 0, sha256: base.checkpoint.sha256 });
    const reference = base.checkpoint;

    // The step's activities, called here: the same phase functions the Temporal activities wrap.
    const activities: StepActivities = {
      selectTasks: (input) => selectTasksPhase(ctx, input, async () => result.trajectories.filter((t) => t.step < input.step)),
      rolloutBatch: (input) => rolloutPhase(ctx, input),
      checkRewards: async (input) => {
        const { rows: _rows, ...rewards } = await checkRewardsPhase(ctx, input);
        return rewards;
      },
      scoreBatch: (input) => scorePhase(ctx, { ...input, policy: publishedPolicy(input.policy), reference }),
      computeAdvantages: (input) => advantagesPhase(ctx, input),
      updatePolicy: async (input) => {
        const update = await updatePhase(ctx, { ...input, policy: publishedPolicy(input.policy), reference });
        result.checkpoints.push({ version: update.checkpoint.version, step: update.checkpoint.step, sha256: update.checkpoint.sha256 });
        return update;
      },
      syncWeights: (input) => syncPhase(ctx, runId, input.checkpoint),
      recordStep: async (input) => {
        const { trajectories } = await recordPhase(ctx, input);
        result.trajectories.push(...trajectories);
        const { update, phaseMs = {}, ...metrics } = input.metrics;
        if (!update) throw new Error(`step ${input.step}: the update reported no metrics`);
        const record: InProcessStep = { ...update, ...metrics, phaseMs, step: input.step, policyVersion: input.policyVersion };
        result.steps.push(record);
        opts.onStep?.(record);
      },
    };
    const evaluate = async (step: number, policy: PublishedPolicy) => {
      const { split, tasks } = config.evaluation;
      for (const { mode, k, label } of evaluationModes(config)) {
        const evaluation = await evaluatePhase(ctx, { runId, step, config, policy, split, tasks, mode, k });
        result.evaluations.push({ step, split, mode: label, metrics: evaluation.metrics });
        opts.log?.(`eval step ${step} ${split} ${label}: ${JSON.stringify(evaluation.metrics)}`);
      }
    };

    let point: ResumePoint = { step: 0, policy: base, learningRate: config.learningRate, klCoef: config.agent.kl.coef };
    const steps = new StepPipeline(activities, config);
    while (point.step < config.steps) {
      point = (await steps.step(point)).next;
      if (config.evaluation.every > 0 && point.step % config.evaluation.every === 0 && point.step < config.steps) await evaluate(point.step, publishedPolicy(point.policy));
    }
    result.policy = publishedPolicy(point.policy);
    await evaluate(config.steps, result.policy);
    return result;
  } finally {
    // The run's states and loaded policies die with it; the returned policy lives on in the store.
    await releaseContext(ctx);
  }
}
