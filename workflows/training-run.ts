/**
 * trainingRun: one durable workflow per training run (DESIGN section 2).
 *
 * Per step: select tasks, roll out (fan-out over shards), check rewards, score, compute advantages, update the
 * policy, sync the new weights, record the step. Only references and small numbers pass through here.
 * Deterministic: no I/O, time or randomness of its own; everything else happens in activities.
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { CpuActivities, GpuActivities, PolicyRef, StepMetrics } from '../activities/contract';
import { InvalidRunConfigError, parseRunConfig, type RunConfig } from './config';
import * as sa from './search-attributes';

// --- Messages ---

export interface Progress {
  runId: string;
  /** Steps completed so far (the next step's index). */
  step: number;
  totalSteps: number;
  policyVersion: number;
  learningRate: number;
  paused: boolean;
  stopRequested: boolean;
  phase: string;
  last?: StepMetrics & { step: number };
}

export const progressQuery = defineQuery<Progress>('progress');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const stopAfterStepSignal = defineSignal('stopAfterStep');
export const setLearningRateUpdate = defineUpdate<{ previous: number; learningRate: number }, [number]>('setLearningRate');

/** The small state carried across continue-as-new. */
export interface LoopState {
  step: number;
  policy: PolicyRef;
  learningRate: number;
  paused: boolean;
  stopRequested: boolean;
  last?: Progress['last'];
}

export interface TrainingRunResult {
  runId: string;
  status: 'completed' | 'stopped';
  steps: number;
  policyVersion: number;
  last?: Progress['last'];
}

export async function trainingRun(rawConfig: unknown, carried?: LoopState): Promise<TrainingRunResult> {
  const config = validate(rawConfig);
  const { cpu, gpu } = activitiesFor(config);
  const { workflowId } = workflowInfo();

  let phase = 'starting';
  const state: LoopState = carried ?? {
    step: 0,
    policy: { version: 0, key: '', sha256: '' },
    learningRate: config.learningRate,
    paused: false,
    stopRequested: false,
  };

  setHandler(progressQuery, () => ({
    runId: config.runId,
    step: state.step,
    totalSteps: config.steps,
    policyVersion: state.policy.version,
    learningRate: state.learningRate,
    paused: state.paused,
    stopRequested: state.stopRequested,
    phase,
    last: state.last,
  }));
  setHandler(pauseSignal, () => void (state.paused = true));
  setHandler(resumeSignal, () => void (state.paused = false));
  setHandler(stopAfterStepSignal, () => void (state.stopRequested = true));
  setHandler(
    setLearningRateUpdate,
    (learningRate) => {
      const previous = state.learningRate;
      state.learningRate = learningRate;
      return { previous, learningRate };
    },
    { validator: (learningRate) => checkLearningRate(learningRate) },
  );

  upsertSearchAttributes([
    { key: sa.RatchetRunId, value: config.runId },
    { key: sa.RatchetEnv, value: config.env },
    { key: sa.RatchetAlgorithm, value: config.algorithm },
    { key: sa.RatchetStep, value: state.step },
    { key: sa.RatchetPolicyVersion, value: state.policy.version },
    { key: sa.RatchetPaused, value: state.paused },
  ]);

  if (!carried) {
    await cpu.recordRun({ runId: config.runId, workflowId, config, status: 'running', stepsCompleted: 0 });
    phase = 'initPolicy';
    state.policy = await gpu.initPolicy({ runId: config.runId, config });
  }

  let stepsThisExecution = 0;
  while (state.step < config.steps && !state.stopRequested) {
    if (stepsThisExecution >= config.continueAsNewEvery || workflowInfo().continueAsNewSuggested) {
      phase = 'continuing-as-new';
      await condition(allHandlersFinished);
      return await continueAsNew<typeof trainingRun>(config, state);
    }
    if (state.paused) {
      phase = 'paused';
      upsertSearchAttributes([{ key: sa.RatchetPaused, value: true }]);
      setCurrentDetails(`paused before step ${state.step + 1}/${config.steps}`);
      await condition(() => !state.paused || state.stopRequested);
      upsertSearchAttributes([{ key: sa.RatchetPaused, value: false }]);
      if (state.stopRequested) break;
    }

    const step = state.step;
    const input = { runId: config.runId, step, config };
    const startedAt = Date.now(); // workflow clock: deterministic on replay

    phase = 'selectTasks';
    const { taskIds } = await cpu.selectTasks(input);

    phase = 'rolloutBatch';
    const shards = splitIntoShards(taskIds, config.rolloutShards);
    const rollouts = (
      await Promise.all(
        shards.map((shard) => cpu.rolloutBatch({ ...input, shard: shard.index, taskIds: shard.taskIds, firstGroup: shard.firstGroup, policy: state.policy })),
      )
    ).map((result) => result.rollouts);

    phase = 'checkRewards';
    const rewards = await cpu.checkRewards({ ...input, rollouts });

    phase = 'scoreBatch';
    const scores = await gpu.scoreBatch({ ...input, rollouts, policy: state.policy });

    phase = 'computeAdvantages';
    const advantages = await cpu.computeAdvantages({ ...input, rewards: rewards.rewards });

    phase = 'updatePolicy';
    const update = await gpu.updatePolicy({
      ...input,
      policy: state.policy,
      rollouts,
      scores: scores.scores,
      advantages: advantages.advantages,
      learningRate: state.learningRate,
    });

    phase = 'syncWeights';
    const published = await gpu.syncWeights({ ...input, checkpoint: update.checkpoint });

    const metrics: StepMetrics = {
      meanReward: rewards.meanReward,
      successRate: rewards.successRate,
      entropy: scores.entropy,
      kl: update.kl,
      flatGroups: advantages.flatGroups,
      learningRate: state.learningRate,
      wallMs: Date.now() - startedAt,
    };
    phase = 'recordStep';
    await cpu.recordStep({ ...input, rollouts, rewards: rewards.rewards, policyVersion: state.policy.version, checkpoint: update.checkpoint, metrics });

    state.policy = published;
    state.step = step + 1;
    state.last = { step: state.step, ...metrics };
    stepsThisExecution++;
    upsertSearchAttributes([
      { key: sa.RatchetStep, value: state.step },
      { key: sa.RatchetPolicyVersion, value: state.policy.version },
      { key: sa.RatchetMeanReward, value: metrics.meanReward },
      { key: sa.RatchetSuccessRate, value: metrics.successRate },
    ]);
    setCurrentDetails(
      `step ${state.step}/${config.steps} · policy v${state.policy.version} · reward ${metrics.meanReward.toFixed(3)} · ` +
        `success ${(100 * metrics.successRate).toFixed(1)}% · lr ${state.learningRate}`,
    );
  }

  phase = 'finished';
  const status = state.step >= config.steps ? 'completed' : 'stopped';
  await cpu.recordRun({ runId: config.runId, workflowId, config, status, stepsCompleted: state.step });
  await condition(allHandlersFinished);
  return { runId: config.runId, status, steps: state.step, policyVersion: state.policy.version, last: state.last };
}

/** A bad config fails the run at once, naming the field; it is never retried. */
function validate(rawConfig: unknown): RunConfig {
  try {
    return parseRunConfig(rawConfig);
  } catch (err) {
    if (err instanceof InvalidRunConfigError) throw ApplicationFailure.nonRetryable(err.message, 'InvalidRunConfig', err.issues);
    throw err;
  }
}

function checkLearningRate(learningRate: unknown): void {
  if (typeof learningRate !== 'number' || !Number.isFinite(learningRate) || learningRate <= 0 || learningRate > 100) {
    throw new Error(`learningRate must be a number in (0, 100], got ${JSON.stringify(learningRate)}`);
  }
}

function activitiesFor(config: RunConfig) {
  const options: ActivityOptions = {
    startToCloseTimeout: config.timeouts.activityStartToClose as ActivityOptions['startToCloseTimeout'],
    heartbeatTimeout: config.timeouts.activityHeartbeat as ActivityOptions['heartbeatTimeout'],
    retry: {
      initialInterval: config.timeouts.retryInitialInterval as ActivityOptions['startToCloseTimeout'],
      maximumInterval: config.timeouts.retryMaximumInterval as ActivityOptions['startToCloseTimeout'],
      nonRetryableErrorTypes: ['InvalidRunConfig', 'NotImplemented', 'ArtifactIntegrityError'],
    },
  };
  return {
    cpu: proxyActivities<CpuActivities>({ ...options, taskQueue: config.taskQueues.cpu }),
    gpu: proxyActivities<GpuActivities>({ ...options, taskQueue: config.taskQueues.gpu }),
  };
}

/** Contiguous, nearly equal shards; `firstGroup` keeps group numbering global within the step. */
export function splitIntoShards(taskIds: string[], shardCount: number): { index: number; firstGroup: number; taskIds: string[] }[] {
  const count = Math.max(1, Math.min(shardCount, taskIds.length));
  const shards = [];
  let start = 0;
  for (let index = 0; index < count; index++) {
    const size = Math.floor(taskIds.length / count) + (index < taskIds.length % count ? 1 : 0);
    shards.push({ index, firstGroup: start, taskIds: taskIds.slice(start, start + size) });
    start += size;
  }
  return shards;
}
