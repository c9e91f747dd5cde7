/**
 * The same training run without Temporal: the phases of trainer/phases.ts called one after another in this
 * process, with the artifact store but no database. It takes the same run config, produces the same
 * checkpoints, and is the baseline for measuring what the durable pipeline costs.
 */
import type { ArtifactStore } from '../common/artifacts';
import type { RunConfig } from '../config/run-config';
import {
  advantagesPhase,
  checkRewardsPhase,
  evaluatePhase,
  initPolicyPhase,
  PhaseContext,
  PublishedPolicy,
  releaseContext,
  rolloutPhase,
  scorePhase,
  selectTasksPhase,
  syncPhase,
  updatePhase,
} from './phases';
import { PolicyCache } from './policy-bundle';

export interface InProcessStep {
  step: number;
  policyVersion: number;
  meanReward: number;
  successRate: number;
  entropy: number;
  clipFraction: number;
  ppoKl: number;
  /** Groups whose rollouts all got the same reward (no signal), and the optimizer steps the update took. */
  flatGroups: number;
  optimizerSteps: number;
  /** Milliseconds per phase. */
  phaseMs: Record<string, number>;
}

export interface InProcessResult {
  policy: PublishedPolicy;
  steps: InProcessStep[];
  evaluations: { step: number; split: string; metrics: Record<string, number> }[];
}

export async function trainInProcess(
  config: RunConfig,
  store: ArtifactStore,
  opts: { onStep?: (step: InProcessStep) => void; log?: (line: string) => void } = {},
): Promise<InProcessResult> {
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
  const timed = async <T>(phaseMs: Record<string, number>, name: string, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await work();
    phaseMs[name] = Math.round(performance.now() - started);
    return result;
  };

  try {
    opts.log?.('building the base policy');
    let policy: PublishedPolicy = await initPolicyPhase(ctx, runId, config);
    const reference = policy.checkpoint;
    const history: { step: number; taskId: string; success: boolean }[] = [];
    const steps: InProcessStep[] = [];
    const evaluations: InProcessResult['evaluations'] = [];
    const evaluate = async (step: number) => {
      const { split, tasks } = config.evaluation;
      const result = await evaluatePhase(ctx, { runId, step, config, policy, split: split!, tasks, mode: 'greedy', k: 1 });
      evaluations.push({ step, split: split!, metrics: result.metrics });
      opts.log?.(`eval step ${step} ${split}: ${JSON.stringify(result.metrics)}`);
    };

    for (let step = 0; step < config.steps; step++) {
      const phaseMs: Record<string, number> = {};
      const input = { runId, step, config };
      const taskIds = await timed(phaseMs, 'selectTasks', async () => selectTasksPhase(config, step, history));
      const { rollouts } = await timed(phaseMs, 'rolloutBatch', () => rolloutPhase(ctx, { ...input, shard: 0, taskIds, firstGroup: 0, policy }));
      const rewards = await timed(phaseMs, 'checkRewards', () => checkRewardsPhase(ctx, runId, step, config, [rollouts]));
      const scores = await timed(phaseMs, 'scoreBatch', () => scorePhase(ctx, { ...input, rollouts: [rollouts], rewards: rewards.rewards, policy, reference }));
      const advantages = await timed(phaseMs, 'computeAdvantages', () =>
        advantagesPhase(ctx, { ...input, rollouts: [rollouts], rewards: rewards.rewards, scores: scores.scores }),
      );
      const update = await timed(phaseMs, 'updatePolicy', () =>
        updatePhase(ctx, { ...input, policy, reference, rollouts: [rollouts], scores: scores.scores, advantages: advantages.advantages, learningRate: config.learningRate }),
      );
      policy = await timed(phaseMs, 'syncWeights', () => syncPhase(ctx, runId, update.checkpoint));
      for (const row of rewards.rows) history.push({ step, taskId: row.taskId, success: row.success });

      const record: InProcessStep = {
        step,
        policyVersion: policy.version,
        meanReward: rewards.meanReward,
        successRate: rewards.successRate,
        entropy: scores.entropy,
        clipFraction: update.metrics.clipFraction,
        ppoKl: update.metrics.ppoKl,
        flatGroups: advantages.flatGroups,
        optimizerSteps: update.metrics.optimizerSteps,
        phaseMs,
      };
      steps.push(record);
      opts.onStep?.(record);
      if (config.evaluation.every > 0 && (step + 1) % config.evaluation.every === 0 && step + 1 < config.steps) await evaluate(step + 1);
    }
    await evaluate(config.steps);
    return { policy, steps, evaluations };
  } finally {
    // The run's states and loaded policies die with it; the returned policy lives on in the store.
    await releaseContext(ctx);
  }
}
