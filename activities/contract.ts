/**
 * The step contract between the training workflow and the activities (DESIGN section 2).
 *
 * Everything here crosses Temporal, so it is small: run id, step, artifact references (key + sha256) and a few
 * numbers. Each environment supplies one `EnvStepActivities` implementation (see `activities/registry.ts`).
 */
import type { ArtifactRef } from '../common/artifacts';
import type { RunConfig } from '../config/run-config';

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

export interface SelectTasksResult {
  taskIds: string[];
}

export interface RolloutShardInput extends StepInput {
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
  rollouts: ArtifactRef[];
}

export interface CheckRewardsResult {
  rewards: ArtifactRef;
  meanReward: number;
  successRate: number;
}

export interface ScoreBatchInput extends StepInput {
  rollouts: ArtifactRef[];
  /** checkRewards' verified rewards: with them, group estimators skip the flat groups they will not train on. */
  rewards?: ArtifactRef;
  policy: PolicyRef;
}

export interface ScoreBatchResult {
  scores: ArtifactRef;
  entropy: number;
}

export interface ComputeAdvantagesInput extends StepInput {
  rewards: ArtifactRef;
  /** The step's trajectories and their scores (critic values, log-probs): GAE and SALT need them. */
  rollouts?: ArtifactRef[];
  scores?: ArtifactRef;
}

export interface ComputeAdvantagesResult {
  advantages: ArtifactRef;
  /** Groups whose rewards were all equal (no learning signal). */
  flatGroups: number;
}

export interface UpdatePolicyInput extends StepInput {
  policy: PolicyRef;
  rollouts: ArtifactRef[];
  scores: ArtifactRef;
  advantages: ArtifactRef;
  learningRate: number;
  /** The KL coefficient for this step (`setHyperparameters` may change it); absent = config.agent.kl.coef. */
  klCoef?: number;
}

export interface UpdatePolicyResult {
  checkpoint: CheckpointRef;
  /** Mean KL(old || new) over the step's tasks. */
  kl: number;
}

export interface SyncWeightsInput extends StepInput {
  checkpoint: CheckpointRef;
}

export interface InitPolicyInput {
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
  resume?: ResumePoint;
}

/** What a resumed run needs to continue exactly where an uninterrupted one would be after `step` steps. */
export interface ResumePoint {
  /** Steps completed (the next step's index). */
  step: number;
  /** The published policy the next step rolls out with. */
  policy: PolicyRef;
  learningRate: number;
  klCoef: number;
}

/** Held-out evaluation of one policy version on one split (greedy, or k samples per task for pass@k). */
export interface EvaluateInput extends StepInput {
  policy: PolicyRef;
  split: string;
  /** Tasks to evaluate: the first N of the split in its fixed order; 0 = all. */
  tasks: number;
  mode: 'greedy' | 'pass@k';
  /** Samples per task: 1 for greedy, config.evaluation.passK for pass@k. */
  k: number;
}

export interface EvaluationResult {
  /** e.g. { success, meanReward, tgc, sgc, em, f1, passAtK }; env-specific keys allowed. */
  metrics: Record<string, number>;
  /** Episodes played (tasks x k). */
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
}

/** What one environment implements so the training workflow can train on it. */
export interface EnvStepActivities {
  initPolicy(input: InitPolicyInput): Promise<PolicyRef>;
  selectTasks(input: StepInput): Promise<SelectTasksResult>;
  rolloutBatch(input: RolloutShardInput): Promise<RolloutShardResult>;
  checkRewards(input: CheckRewardsInput): Promise<CheckRewardsResult>;
  scoreBatch(input: ScoreBatchInput): Promise<ScoreBatchResult>;
  computeAdvantages(input: ComputeAdvantagesInput): Promise<ComputeAdvantagesResult>;
  updatePolicy(input: UpdatePolicyInput): Promise<UpdatePolicyResult>;
  syncWeights(input: SyncWeightsInput): Promise<PolicyRef>;
  recordStep(input: RecordStepInput): Promise<void>;
  evaluatePolicy(input: EvaluateInput): Promise<EvaluationResult>;
}

/** Activities on the cpu queue (env-independent recordRun and recordEvaluation included). */
export interface CpuActivities
  extends Pick<EnvStepActivities, 'selectTasks' | 'rolloutBatch' | 'checkRewards' | 'computeAdvantages' | 'recordStep' | 'evaluatePolicy'> {
  recordRun(input: RecordRunInput): Promise<void>;
  recordEvaluation(input: RecordEvaluationInput): Promise<void>;
}

/** Activities on the gpu queue. */
export type GpuActivities = Pick<EnvStepActivities, 'initPolicy' | 'scoreBatch' | 'updatePolicy' | 'syncWeights'>;
