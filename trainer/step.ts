/**
 * One training step, written once (DESIGN section 2): select tasks, roll out (fan-out over shards), check
 * rewards (and with DAPO refill, draw more tasks while too few groups carry a signal), score, compute
 * advantages, update the policy, sync the new weights, record the step. The trainingRun workflow runs it with
 * activity proxies, trainer/in-process.ts with the phase functions called in-process.
 *
 * Imported by the workflow bundle: types and pure code only (no tfjs, ORT, fs, pg), no randomness, and time
 * only through Date.now(), which the workflow sandbox makes deterministic.
 */
import type { ArtifactRef, CheckRewardsResult, PolicyRef, ResumePoint, StepActivities, StepInput, StepMetrics } from '../activities/contract';
import { GROUP_ESTIMATORS } from '../config/agent';
import type { RunConfig } from '../config/run-config';
import { updateKlController } from '../rl/kl-controller';

export interface StepResult {
  metrics: StepMetrics;
  /** The state the next step starts from (also saved with the step row: `ratchet resume` continues from it). */
  next: ResumePoint;
}

/**
 * Run step `from.step`: update `from.policy` with `from`'s hyperparameters on the step's batch, drawn here with
 * `from.policy` (synchronous) or given (drawn ahead by an older policy: trainer/step-pipeline.ts). `onPhase` hears
 * each phase as it starts.
 */
export async function runStep(
  activities: StepActivities,
  config: RunConfig,
  from: ResumePoint,
  onPhase: (phase: string) => void = () => undefined,
  drawn?: Promise<DrawnBatch>,
): Promise<StepResult> {
  const input: StepInput = { runId: config.runId, step: from.step, config };
  const startedAt = Date.now();
  // Where the step's wall time goes (scheduling and queueing included), summed over refill rounds.
  const phaseMs: Record<string, number> = {};
  const timed = timer(phaseMs, onPhase);

  // A batch drawn ahead brings its own phase times (they overlapped the previous step); awaitBatch is the part not hidden.
  const batch = drawn ? await timed('awaitBatch', () => drawn) : await drawBatch(activities, config, from.step, rolloutPolicyFor(from, from.step), from.curriculum, onPhase);
  for (const [name, ms] of Object.entries(batch.phaseMs)) phaseMs[name] = (phaseMs[name] ?? 0) + ms;
  const { rollouts, rewards } = batch;

  const scores = await timed('scoreBatch', () => activities.scoreBatch({ ...input, rollouts, rewards: rewards.rewards, policy: from.policy }));

  const advantages = await timed('computeAdvantages', () =>
    activities.computeAdvantages({ ...input, rollouts, rewards: rewards.rewards, scores: scores.scores, klCoef: from.klCoef }),
  );

  const update = await timed('updatePolicy', () =>
    activities.updatePolicy({
      ...input,
      policy: from.policy,
      rollouts,
      scores: scores.scores,
      advantages: advantages.advantages,
      learningRate: from.learningRate,
      klCoef: from.klCoef,
    }),
  );

  const published = await timed('syncWeights', () =>
    activities.syncWeights({ ...input, checkpoint: update.checkpoint, ...(from.evaluating ? { evaluating: from.evaluating } : {}) }),
  );

  const measuredKl = config.agent.kl.mode === 'reward' ? advantages.meanKl : (update.metrics?.refKl ?? 0);
  const metrics: StepMetrics = {
    meanReward: rewards.meanReward,
    successRate: rewards.successRate,
    entropy: scores.entropy,
    kl: update.kl,
    flatGroups: advantages.flatGroups,
    learningRate: from.learningRate,
    klCoef: from.klCoef,
    measuredKl,
    groupsDrawn: rewards.groups,
    refillRounds: batch.rounds - 1,
    informativeGroups: rewards.informativeGroups,
    ...(update.metrics ? { update: update.metrics } : {}),
    ...(scores.mismatch ? { logProbMismatch: scores.mismatch } : {}),
    ...(scores.offPolicy ? { offPolicy: scores.offPolicy } : {}),
    wallMs: Date.now() - startedAt,
    phaseMs,
  };
  const next: ResumePoint = {
    step: from.step + 1,
    policy: published,
    learningRate: from.learningRate,
    klCoef: nextKlCoef(config, from.klCoef, measuredKl),
    ...(batch.sampler ? { curriculum: { sampler: batch.sampler, outcomes: rewards.rewards } } : {}),
    ...(config.async.maxStaleness > 0 ? { rolloutPolicies: nextRolloutPolicies(config.async.maxStaleness, from) } : {}),
  };

  onPhase('recordStep');
  await activities.recordStep({
    ...input,
    rollouts,
    rewards: rewards.rewards,
    policyVersion: batch.policy.version,
    checkpoint: update.checkpoint,
    metrics,
    resume: next,
  });
  return { metrics, next };
}

/** A step's tasks, rolled out and verified: references and a few numbers (carried across continue-as-new). */
export interface DrawnBatch {
  step: number;
  /** The policy that rolled it out. */
  policy: PolicyRef;
  /** Every rollout shard of the step, all rounds. */
  rollouts: ArtifactRef[];
  /** The verified rewards of every trajectory drawn. */
  rewards: CheckRewardsResult;
  /** Rounds of draws: 1 without refill. */
  rounds: number;
  sampler?: ArtifactRef;
  /** Milliseconds per phase of the draw (selectTasks, rolloutBatch, checkRewards). */
  phaseMs: Record<string, number>;
}

/** Times each phase into `phaseMs` (summed over repeats) and announces it. */
function timer(phaseMs: Record<string, number>, onPhase: (phase: string) => void) {
  return async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    onPhase(name);
    const t0 = Date.now();
    const result = await run();
    phaseMs[name] = (phaseMs[name] ?? 0) + Date.now() - t0;
    return result;
  };
}

/**
 * Step `step`'s tasks, selected with the curriculum state `curriculum` (the previous step's sampler and outcomes),
 * rolled out by `policy` and verified. With `dynamicSampling.refill` (group estimators only), rounds draw tasks
 * not drawn yet, one per missing informative group, until tasksPerStep groups carry a signal or `maxGroups` were
 * drawn; so the step trains on at most tasksPerStep informative groups.
 */
export async function drawBatch(
  activities: StepActivities,
  config: RunConfig,
  step: number,
  policy: PolicyRef,
  curriculum: ResumePoint['curriculum'],
  onPhase: (phase: string) => void = () => undefined,
): Promise<DrawnBatch> {
  const input: StepInput = { runId: config.runId, step, config };
  const phaseMs: Record<string, number> = {};
  const timed = timer(phaseMs, onPhase);
  const target = config.tasksPerStep;
  const refill = config.dynamicSampling.refill && GROUP_ESTIMATORS.includes(config.algorithm);
  const budget = refill ? Math.max(target, config.dynamicSampling.maxGroups ?? 3 * target) : target;
  const drawn: string[] = [];
  const rollouts: ArtifactRef[] = [];
  let rewards: CheckRewardsResult | undefined;
  let sampler: ArtifactRef | undefined;
  let round = 0;

  for (;;) {
    const count = rewards ? Math.min(target - rewards.informativeGroups, budget - drawn.length) : target;
    const selection = await timed('selectTasks', () =>
      activities.selectTasks({
        ...input,
        round,
        count,
        exclude: [...drawn],
        ...(round === 0 ? { sampler: curriculum?.sampler, outcomes: curriculum?.outcomes } : { sampler }),
      }),
    );
    if (round === 0) sampler = selection.sampler;
    if (rewards && selection.taskIds.length === 0) break; // every task of the split was drawn

    const shards = splitIntoShards(selection.taskIds, config.rolloutShards, { firstGroup: drawn.length, firstShard: rollouts.length });
    const results = await timed('rolloutBatch', () =>
      Promise.all(shards.map((shard) => activities.rolloutBatch({ ...input, shard: shard.index, taskIds: shard.taskIds, firstGroup: shard.firstGroup, policy }))),
    );
    const fresh = results.map((result) => result.rollouts);
    rewards = await timed('checkRewards', () => activities.checkRewards({ ...input, round, rollouts: fresh, previous: rewards?.rewards }));
    drawn.push(...selection.taskIds);
    rollouts.push(...fresh);
    round++;
    if (!refill || rewards.informativeGroups >= target || drawn.length >= budget) break;
  }
  return { step, policy, rollouts, rewards, rounds: round, sampler, phaseMs };
}

/** The policy step `step` rolls out with, seen from step `from.step` (<= step <= from.step + maxStaleness). */
export function rolloutPolicyFor(from: ResumePoint, step: number): PolicyRef {
  return from.rolloutPolicies?.[step - from.step] ?? from.policy;
}

/** The rollout policies of steps from.step + 1 ... from.step + d: those already fixed, then from.policy (for step from.step + d). */
function nextRolloutPolicies(d: number, from: ResumePoint): PolicyRef[] {
  return Array.from({ length: d }, (_, i) => (i < d - 1 ? rolloutPolicyFor(from, from.step + 1 + i) : from.policy));
}

/** The next step's KL coefficient: adapted toward `kl.targetKl` when set (Ziegler et al.), else unchanged. */
function nextKlCoef(config: RunConfig, klCoef: number, measuredKl: number): number {
  const { mode, targetKl, horizon } = config.agent.kl;
  if (mode === 'none' || targetKl === undefined) return klCoef;
  // nSteps: the samples a step covers (verl passes the batch size).
  return updateKlController({ kind: 'adaptive', coef: klCoef, targetKl, horizon }, measuredKl, config.tasksPerStep * config.groupSize).coef;
}

/**
 * Contiguous, nearly equal shards. `firstGroup` keeps group numbering global within the step, and `firstShard`
 * shard numbering (each shard has its own artifact) across refill rounds.
 */
export function splitIntoShards(
  taskIds: string[],
  shardCount: number,
  offsets: { firstGroup: number; firstShard: number } = { firstGroup: 0, firstShard: 0 },
): { index: number; firstGroup: number; taskIds: string[] }[] {
  const count = Math.max(1, Math.min(shardCount, taskIds.length));
  const shards = [];
  let start = 0;
  for (let index = 0; index < count; index++) {
    const size = Math.floor(taskIds.length / count) + (index < taskIds.length % count ? 1 : 0);
    shards.push({ index: offsets.firstShard + index, firstGroup: offsets.firstGroup + start, taskIds: taskIds.slice(start, start + size) });
    start += size;
  }
  return shards;
}

/** The modes a held-out evaluation runs: greedy always, pass@k with sampling when `evaluation.passK` > 0. */
export function evaluationModes(config: RunConfig): { mode: 'greedy' | 'pass@k'; k: number; label: string }[] {
  const { passK } = config.evaluation;
  return [{ mode: 'greedy', k: 1, label: 'greedy' }, ...(passK > 0 ? [{ mode: 'pass@k' as const, k: passK, label: `pass@${passK}` }] : [])];
}
