/**
 * The step contract between the training workflow and the activities (DESIGN section 2).
 *
 * Everything here crosses Temporal, so it is small: run id, step, artifact references (key + sha256) and a few
 * numbers. Each environment supplies one `EnvStepActivities` implementation (see `activities/registry.ts`).
 */
import type { ArtifactRef } from '../common/artifacts';
import type { RunConfig } from '../config/run-config';
import type { OffPolicyStats } from '../rl/off-policy';
import type { UpdateMetrics as PpoMetrics } from '../trainer/update';

export type { ArtifactRef };

/** The policy the rollouts use: exactly this version, verified by hash. */
export interface PolicyRef extends ArtifactRef {
  version: number;
  /** The trainer-side checkpoint this version was exported from (text agents: tfjs weights + optimizer). */
  checkpoint?: ArtifactRef;
}

export interface CheckpointRef extends ArtifactRef {
  version: number;
  step: number;
}

/** What every step activity receives: which run, which step, and the (small, validated) config. */
export interface StepInput {
  runId: string;
  step: number;
  config: RunConfig;
}

export interface SelectTasksInput extends StepInput {
  /** 0 for the step's batch; 1, 2, ... for DAPO's refill rounds, which draw tasks not yet drawn this step. */
  round: number;
  /** Tasks to draw (fewer when the split runs out). */
  count: number;
  /** Tasks already drawn this step. */
  exclude: string[];
  /** The task sampler's state: the one the previous step selected with (round 0), or this step's (refill rounds). */
  sampler?: ArtifactRef;
  /** Round 0: the previous step's verified rewards, the outcomes the sampler learns from before it selects. */
  outcomes?: ArtifactRef;
}

export interface SelectTasksResult {
  taskIds: string[];
  /** The sampler state this step selects with (text agents' curriculum; the bandit keeps none). */
  sampler?: ArtifactRef;
}

export interface RolloutShardInput extends StepInput {
  /** Numbered across the step's rounds, so every shard has its own artifact. */
  shard: number;
  /** Tasks of this shard; `firstGroup` is the group index of taskIds[0] within the step. */
  taskIds: string[];
  firstGroup: number;
  policy: PolicyRef;
}

export interface RolloutShardResult {
  rollouts: ArtifactRef;
  trajectories: number;
}

export interface CheckRewardsInput extends StepInput {
  /** This round's rollout shards. */
  rollouts: ArtifactRef[];
  round: number;
  /** The rewards of the step's earlier rounds: the result covers them and this round's. */
  previous?: ArtifactRef;
}

export interface CheckRewardsResult {
  rewards: ArtifactRef;
  meanReward: number;
  successRate: number;
  /** Groups drawn so far this step, and those whose rewards differ (the only ones a group estimator learns from). */
  groups: number;
  informativeGroups: number;
}

export interface ScoreBatchInput extends StepInput {
  rollouts: ArtifactRef[];
  /** checkRewards' verified rewards: with them, group estimators skip the flat groups they will not train on. */
  rewards: ArtifactRef;
  policy: PolicyRef;
}

/** How far the rollout engine's log-probs of the sampled tokens are from the trainer's (verl's rollout-probs diff). */
export interface LogProbMismatch {
  /** Mean and max |log π_rollout − log π_trainer| in nats over the scored action tokens. */
  mean: number;
  max: number;
  tokens: number;
}

export interface ScoreBatchResult {
  scores: ArtifactRef;
  entropy: number;
  /** LLM policies: the rollout engine against the trainer, same weights (the proof that weight sync arrived). */
  mismatch?: LogProbMismatch;
  /** Asynchronous training, when some samples are stale: their staleness and importance weights. */
  offPolicy?: OffPolicyStats;
}

export interface ComputeAdvantagesInput extends StepInput {
  rewards: ArtifactRef;
  /** The step's trajectories and their scores (critic values, log-probs): GAE and SALT need them. */
  rollouts: ArtifactRef[];
  scores: ArtifactRef;
  /** The KL coefficient for this step (live: `setHyperparameters` or the adaptive controller may change it). */
  klCoef: number;
}

export interface ComputeAdvantagesResult {
  advantages: ArtifactRef;
  /** Groups whose rewards were all equal (no outcome signal; GiGPO may still train on their trajectories' step terms). */
  flatGroups: number;
  /** Mean KL(π_old‖π_ref) per trajectory when the KL is a reward penalty (`kl.mode: reward`), else 0. */
  meanKl: number;
}

export interface UpdatePolicyInput extends StepInput {
  policy: PolicyRef;
  rollouts: ArtifactRef[];
  scores: ArtifactRef;
  advantages: ArtifactRef;
  learningRate: number;
  /** The KL coefficient for this step (live: `setHyperparameters` or the adaptive controller may change it). */
  klCoef: number;
}

/** What a text agent's PPO update measured (trainer/update.ts), and the tfjs backend it ran on. */
export type UpdateMetrics = PpoMetrics & { backend: string };

export interface UpdatePolicyResult {
  checkpoint: CheckpointRef;
  /** Mean KL(old || new) over the step's tasks. */
  kl: number;
  /** The text agents' update metrics (the bandit's tabular update has none beyond `kl`). */
  metrics?: UpdateMetrics;
}

export interface SyncWeightsInput extends StepInput {
  checkpoint: CheckpointRef;
  /** Versions whose graphs a running evaluation reads: not deleted by this sync (ResumePoint.evaluating). */
  evaluating?: number[];
}

export interface InitPolicyInput {
  runId: string;
  config: RunConfig;
  /** An LLM run's format-SFT data (`agent.policy.sft`), written by writeDemonstrations. */
  demonstrations?: ArtifactRef;
}

export interface WriteDemonstrationsInput {
  runId: string;
  config: RunConfig;
}

export interface StepMetrics {
  meanReward: number;
  successRate: number;
  entropy: number;
  kl: number;
  flatGroups: number;
  learningRate: number;
  /**
   * The KL coefficient the step used, and the KL to the reference it measured: the reward penalty's (`reward`
   * mode, what the adaptive controller reads) or the loss term's (`loss` mode).
   */
  klCoef: number;
  measuredKl: number;
  /** DAPO refill: groups drawn in all, rounds after the first, and groups with differing rewards. */
  groupsDrawn: number;
  refillRounds: number;
  informativeGroups: number;
  /** The update's own metrics (text agents), flattened into the step row's metrics. */
  update?: UpdateMetrics;
  /** LLM policies: scoreBatch's rollout-vs-trainer log-prob mismatch. */
  logProbMismatch?: LogProbMismatch;
  /** Asynchronous training: the staleness histogram and importance weights of the trained samples. */
  offPolicy?: OffPolicyStats;
  /** Workflow-clock milliseconds from selectTasks to syncWeights. */
  wallMs: number;
  /** Workflow-clock milliseconds per phase (selectTasks ... syncWeights), scheduling and queueing included. */
  phaseMs?: Record<string, number>;
}

export interface RecordStepInput extends StepInput {
  rollouts: ArtifactRef[];
  rewards: ArtifactRef;
  /** The version that produced this step's rollouts, and the one the update published. */
  policyVersion: number;
  checkpoint: CheckpointRef;
  metrics: StepMetrics;
  /**
   * The loop state after this step, saved beside the step row (env-independent, see activities/index.ts) so
   * `ratchet resume` can continue from here. Environments' recordStep implementations ignore it.
   */
  resume: ResumePoint;
}

/**
 * What a resumed run needs to continue exactly where an uninterrupted one would be after `step` steps: the
 * state one step hands the next (trainer/step.ts).
 */
export interface ResumePoint {
  /** Steps completed (the next step's index). */
  step: number;
  /** The published policy the next step rolls out with. */
  policy: PolicyRef;
  learningRate: number;
  klCoef: number;
  /** The task sampler's state the last step selected with, and that step's rewards (absent: none kept). */
  curriculum?: { sampler: ArtifactRef; outcomes: ArtifactRef };
  /**
   * Asynchronous training (`async.maxStaleness` d > 0): the policies the rollouts of steps `step` ... `step + d - 1`
   * use, in order, each the policy of d steps earlier (version 0 for the first d steps). Absent: each step rolls
   * out with `policy`.
   */
  rolloutPolicies?: PolicyRef[];
  /** Policy versions that evaluations still running read (their LLM graphs outlive agent.policy.keepExports). */
  evaluating?: number[];
}

/** Held-out evaluation of one policy version on one split (greedy, or k samples per task for pass@k). */
export interface EvaluateInput extends StepInput {
  policy: PolicyRef;
  split: string;
  /** Tasks to evaluate: the first N of the split in its fixed order; 0 = all. */
  tasks: number;
  mode: 'greedy' | 'pass@k';
  /**
   * The k of pass@k (config.evaluation.passK); 1 for greedy. pass@k plays n = max(k, config.evaluation.passN)
   * sampled attempts per task and reports the unbiased estimate.
   */
  k: number;
}

export interface EvaluationResult {
  /** e.g. { success, meanReward, tgc, sgc, em, f1, passAtK }; env-specific keys allowed. */
  metrics: Record<string, number>;
  /** Episodes played (tasks x n). */
  episodes: number;
  /** Per-task results in the artifact store. */
  details: ArtifactRef;
}

export interface RecordEvaluationInput {
  runId: string;
  step: number;
  policyVersion: number;
  split: string;
  /** `greedy` or `pass@<k>`: one row per (run, step, split, mode). */
  mode: string;
  /** Samples per task (the row's task count is episodes / k). */
  k: number;
  result: EvaluationResult;
}

export type RunStatus = 'running' | 'completed' | 'stopped' | 'failed';

export interface RecordRunInput {
  runId: string;
  workflowId: string;
  config: RunConfig;
  status: RunStatus;
  stepsCompleted: number;
  /** The workflow chain that owns the run id: workflowInfo().firstExecutionRunId of the start (or the resume). */
  execution?: string;
  /** On a fresh start: refuse (non-retryable `RunIdInUse`) when another chain already owns this run id's rows. */
  claim?: boolean;
  /** Why the run failed (status `failed`): the activity, its error type and message. */
  error?: string;
}

/** What one environment implements so the training workflow can train on it. */
export interface EnvStepActivities {
  initPolicy(input: InitPolicyInput): Promise<PolicyRef>;
  selectTasks(input: SelectTasksInput): Promise<SelectTasksResult>;
  rolloutBatch(input: RolloutShardInput): Promise<RolloutShardResult>;
  checkRewards(input: CheckRewardsInput): Promise<CheckRewardsResult>;
  scoreBatch(input: ScoreBatchInput): Promise<ScoreBatchResult>;
  computeAdvantages(input: ComputeAdvantagesInput): Promise<ComputeAdvantagesResult>;
  updatePolicy(input: UpdatePolicyInput): Promise<UpdatePolicyResult>;
  syncWeights(input: SyncWeightsInput): Promise<PolicyRef>;
  recordStep(input: RecordStepInput): Promise<void>;
  evaluatePolicy(input: EvaluateInput): Promise<EvaluationResult>;
}

/** The activities one training step runs, in the order trainer/step.ts calls them. */
export type StepActivities = Pick<
  EnvStepActivities,
  'selectTasks' | 'rolloutBatch' | 'checkRewards' | 'scoreBatch' | 'computeAdvantages' | 'updatePolicy' | 'syncWeights' | 'recordStep'
>;

/** Activities on the cpu queue (env-independent recordRun and recordEvaluation included). */
export interface CpuActivities
  extends Pick<EnvStepActivities, 'selectTasks' | 'rolloutBatch' | 'checkRewards' | 'computeAdvantages' | 'recordStep' | 'evaluatePolicy'> {
  /** Also stores the config as an artifact: the later activities of the run get only its reference (activities/config-ref.ts). */
  recordRun(input: RecordRunInput): Promise<ArtifactRef>;
  recordEvaluation(input: RecordEvaluationInput): Promise<void>;
  /** The expert's tokenized chats an LLM run's initPolicy fine-tunes on (activities/llm-demonstrations.ts). */
  writeDemonstrations(input: WriteDemonstrationsInput): Promise<ArtifactRef>;
}

/** Activities on the gpu queue. */
export type GpuActivities = Pick<EnvStepActivities, 'initPolicy' | 'scoreBatch' | 'updatePolicy' | 'syncWeights'>;
