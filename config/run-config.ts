/**
 * The run config: one JSON document accepted by the Temporal CLI (`--input-file`) and by `ratchet start`.
 *
 * Pure (zod only) so the workflow can validate its own input before the first activity. Environment-specific
 * settings live in their own section (`bandit`, `apps`, `deepsearch`); add a section here when an environment
 * needs one.
 */
import { z } from 'zod';
import { type AgentTrainingInput, AgentTrainingInputSchema, GROUP_ESTIMATORS, resolveAgentTraining, stepCreditOf } from './agent';
import { defaultsFor } from './defaults';
import { DEEPSEARCH_MIN_PASSAGES, MAX_TURNS, splitSize } from './env-limits';
import { resolveTimeouts, TimeoutsSchema } from './timeouts';
import { checkTaskSource, CurriculumConfigSchema, TaskSourceSchema } from './training-tasks';
import { checkSage, SageConfigSchema } from './sage';

export const ENV_NAMES = ['bandit', 'apps', 'deepsearch'] as const;
export type EnvName = (typeof ENV_NAMES)[number];

/** `torch`: the Python worker (workers/torch) that trains LLM policies; an `llm` run's gpu queue by default. */
export const DEFAULT_TASK_QUEUES = { control: 'ratchet-control', cpu: 'ratchet-cpu', gpu: 'ratchet-gpu', torch: 'ratchet-torch' } as const;

export const BanditConfigSchema = z.strictObject({
  arms: z.int().min(2).max(64).default(8),
  /** Tasks per split; each task is one bandit instance (a context) with its own best arm. */
  tasks: z.int().min(1).max(10_000).default(16),
  /** Seed of the world (arm payoffs), independent of the run's sampling seed. */
  worldSeed: z.int().min(0).default(7),
  /** Simulated environment latency per rollout shard, so tests can interrupt a rollout mid-flight. */
  rolloutLatencyMs: z.int().min(0).max(60_000).default(0),
  /** Simulated training time per update (heartbeating), so fault tests can kill the gpu worker mid-update. */
  updateLatencyMs: z.int().min(0).max(60_000).default(0),
});

/**
 * A task queue name Temporal accepts: a longer one fails every workflow task that schedules an activity on it
 * (the server's ID length limit is 1000), retried forever instead of failing the run.
 */
const taskQueue = z.string().min(1).max(200);

/** Every algorithm a run may name; the text agents implement all but `reinforce`, the bandit a subset. */
export const ALGORITHMS = ['ppo', 'grpo', 'drgrpo', 'rloo', 'loop', 'reinforce_pp', 'reinforce'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];
export const BANDIT_ALGORITHMS: readonly Algorithm[] = ['grpo', 'rloo', 'reinforce'];

export const APPS_SPLITS = ['train', 'dev', 'test_normal', 'test_challenge'] as const;
export const DEEPSEARCH_SPLITS = ['train', 'dev', 'test'] as const;
export const BANDIT_SPLITS = ['train', 'dev', 'test'] as const;

export const AppsConfigSchema = z.strictObject({
  /** Seed of the generated world (people, apps, tasks), independent of the run's sampling seed. */
  seed: z.int().min(0).default(1),
});

export const DeepSearchConfigSchema = z.strictObject({
  /** Seed of the generated encyclopedia and questions. */
  seed: z.int().min(0).default(0),
  /** At least DEEPSEARCH_MIN_PASSAGES: fewer cannot hold the fixed question splits (config/env-limits.ts). */
  passages: z.int().min(DEEPSEARCH_MIN_PASSAGES).max(15_000).default(10_000),
  /** Question family: single-hop (NQ-like) or multi-hop (MuSiQue-like); splits are `${family}/train` etc. */
  family: z.enum(['single', 'multi']).default('single'),
});

/** Held-out evaluation: a child workflow every `every` steps (0 = only at the end) and at the end. */
export const EvaluationConfigSchema = z.strictObject({
  every: z.int().min(0).default(0),
  /** By default the env's dev split (`dev`, or `${deepsearch.family}/dev`). */
  split: z.string().min(1).optional(),
  /** Tasks of the split to evaluate (the first N, in the split's fixed order); 0 = all. */
  tasks: z.int().min(0).default(0),
  /** Also report pass@k with sampling; 0 = greedy only. */
  passK: z.int().min(0).max(16).default(0),
  /**
   * Sampled attempts per task behind the pass@k estimate, n ≥ k: the unbiased 1 − C(n−c, k)/C(n, k) (Chen et al.
   * 2021). Absent = passK (what the evaluation cost before; still unbiased, with n = k it is "any of k"); a larger
   * n lowers the estimate's variance at n/k times the rollouts.
   */
  passN: z.int().min(0).max(64).optional(),
  /**
   * apps: each scenario's chosen tasks play in split order as one chain sharing a skill library (AppWorld's way of
   * evaluating a skill-writing agent; trainer/chain-evaluation.ts). Absent = every task starts with an empty library.
   */
  chains: z.boolean().optional(),
});

/**
 * DAPO's dynamic sampling for the group estimators (grpo, drgrpo, rloo, loop): groups whose rollouts all got the
 * same reward carry no signal and are dropped; with `refill` the step draws more tasks until it has `tasksPerStep`
 * informative groups or has drawn `maxGroups` groups in all. Refused for the other algorithms (ppo,
 * reinforce_pp, the bandit's reinforce): they train on every group.
 */
export const DynamicSamplingSchema = z.strictObject({
  refill: z.boolean().default(false),
  /** The budget: groups a step may draw, its first tasksPerStep included; absent = 3 x tasksPerStep. */
  maxGroups: z.int().min(1).max(65_536).optional(),
});

/**
 * Asynchronous, off-policy training (AReaL, prime-rl): the rollouts of step k + d run on the policy of step k while
 * step k updates, d = maxStaleness (0 = synchronous). The update corrects stale samples with AReaL's decoupled PPO
 * loss: each token's loss is weighted by π_prox / π_behav (the policy being updated over the one that sampled it),
 * tokens whose weight exceeds `importanceCap` are dropped, and trajectories more than maxStaleness versions behind
 * are dropped whole. Text agents only (the bandit's tabular update has no importance correction).
 */
export const AsyncTrainingSchema = z.strictObject({
  maxStaleness: z.int().min(0).max(4).default(0),
  /** AReaL's behav_imp_weight_cap (their examples use 5): must be > 1. */
  importanceCap: z.number().gt(1).max(1000).default(5),
});

export const RunConfigSchema = z
  .strictObject({
    runId: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and "-", at most 63 characters'),
    env: z.enum(ENV_NAMES),
    /** The training split; by default the env's train split (`train`, or `${deepsearch.family}/train`). */
    split: z.string().min(1).optional(),
    algorithm: z.enum(ALGORITHMS).default('grpo'),
    steps: z.int().min(1).max(1_000_000),
    seed: z.int().min(0).default(0),
    tasksPerStep: z.int().min(1).max(4096).default(8),
    groupSize: z.int().min(1).max(256).default(4),
    rolloutShards: z.int().min(1).max(64).default(2),
    /** By env (config/defaults.ts): bandit 1, apps 1e-4, deepsearch 3e-4. */
    learningRate: z.number().positive().max(100).optional(),
    /** Continue-as-new after this many steps in one execution (also whenever Temporal suggests it). */
    continueAsNewEvery: z.int().min(1).default(100),
    taskQueues: z
      .strictObject({
        control: taskQueue.default(DEFAULT_TASK_QUEUES.control),
        cpu: taskQueue.default(DEFAULT_TASK_QUEUES.cpu),
        /** By policy kind: `ratchet-gpu` (TypeScript worker) for builtin, `ratchet-torch` (Python worker) for llm. */
        gpu: taskQueue.optional(),
      })
      .prefault({}),
    /** Activity timeouts and retries by kind (config/timeouts.ts); tests shorten them. */
    timeouts: TimeoutsSchema.prefault({}),
    bandit: BanditConfigSchema.prefault({}),
    apps: AppsConfigSchema.prefault({}),
    deepsearch: DeepSearchConfigSchema.prefault({}),
    /** The text agent (apps, deepsearch): model size, sampling, PPO/KL settings, base model. */
    agent: AgentTrainingInputSchema.prefault({}),
    evaluation: EvaluationConfigSchema.prefault({}),
    dynamicSampling: DynamicSamplingSchema.prefault({}),
    /** Text agents: how the curriculum weights tasks (config/training-tasks.ts); the default is the original table. */
    curriculum: CurriculumConfigSchema.prefault({}),
    /** Text agents: the fixed training split, or a generated stream filtered to a pass-rate band (apps). */
    tasks: TaskSourceSchema.prefault({}),
    /** apps (builtin or llm policy): SAGE training over chains of tasks with a skill library (config/sage.ts); absent = off. */
    sage: SageConfigSchema.optional(),
    async: AsyncTrainingSchema.prefault({}),
  })
  .superRefine((config, ctx) => {
    if (config.env === 'bandit' && !BANDIT_ALGORITHMS.includes(config.algorithm)) {
      ctx.addIssue({
        code: 'custom',
        path: ['algorithm'],
        message: `the bandit implements ${BANDIT_ALGORITHMS.join(', ')}; ${JSON.stringify(config.algorithm)} needs a text-agent env (apps, deepsearch)`,
      });
    }
    if (config.env !== 'bandit' && config.algorithm === 'reinforce') {
      ctx.addIssue({ code: 'custom', path: ['algorithm'], message: 'plain "reinforce" is the bandit\'s; text agents use "reinforce_pp"' });
    }
    const splits = splitsFor(config);
    for (const [path, split] of [[['split'], config.split], [['evaluation', 'split'], config.evaluation.split]] as const) {
      if (split !== undefined && !splits.includes(split)) {
        ctx.addIssue({ code: 'custom', path: [...path], message: `unknown ${config.env} split ${JSON.stringify(split)}; expected one of ${splits.join(', ')}` });
      }
    }
    checkTaskCounts(config, ctx);
    checkTaskSource(config, ctx);
    checkSage(config, ctx);
    if (config.env === 'bandit' && config.agent.policy.kind !== 'builtin') {
      ctx.addIssue({ code: 'custom', path: ['agent', 'policy', 'kind'], message: 'the bandit has no text agent; an llm policy needs env apps or deepsearch' });
    }
    if (config.agent.policy.kind === 'llm' && config.agent.base.checkpoint) {
      ctx.addIssue({ code: 'custom', path: ['agent', 'base', 'checkpoint'], message: 'a built-in policy checkpoint cannot start an llm policy; the llm starts from agent.policy.model' });
    }
    if (config.rolloutShards > config.tasksPerStep) {
      ctx.addIssue({ code: 'custom', path: ['rolloutShards'], message: `must be at most tasksPerStep (${config.tasksPerStep})` });
    }
    if (config.env !== 'bandit' && !GROUP_ESTIMATORS.includes(config.algorithm) && stepCreditOf(config.agent) !== 'none') {
      const field = config.agent.stepCredit !== undefined ? 'stepCredit' : 'salt';
      ctx.addIssue({ code: 'custom', path: ['agent', field], message: `step credit refines a group estimator's advantage (${GROUP_ESTIMATORS.join(', ')}); ${config.algorithm} has none` });
    }
    if (config.dynamicSampling.refill && !GROUP_ESTIMATORS.includes(config.algorithm)) {
      ctx.addIssue({
        code: 'custom',
        path: ['dynamicSampling', 'refill'],
        message: `refill replaces the flat groups that a group estimator (${GROUP_ESTIMATORS.join(', ')}) drops; ${config.algorithm} trains on every group, so there is nothing to refill`,
      });
    }
    checkAgentFitsEnvironment(config, ctx);
    if (config.env === 'bandit' && config.async.maxStaleness > 0) {
      ctx.addIssue({ code: 'custom', path: ['async', 'maxStaleness'], message: 'asynchronous training needs a text agent (apps, deepsearch): the bandit\'s tabular update has no importance correction' });
    }
    const { policy } = config.agent;
    if (policy.kind === 'llm') {
      // A stale batch is rolled out with a version up to maxStaleness behind: a server must still hold it
      // (keepVersions), and the store must still keep its graph (keepExports; null keeps all).
      const kept: [string[], number | null][] = [
        ...(policy.rollout.engine === 'openai' ? [[['rollout', 'keepVersions'], policy.rollout.keepVersions] as [string[], number]] : []),
        [['keepExports'], policy.keepExports],
      ];
      for (const [path, keep] of kept) {
        if (keep !== null && keep < config.async.maxStaleness + 1) {
          ctx.addIssue({ code: 'custom', path: ['agent', 'policy', ...path], message: `must be at least async.maxStaleness + 1 (${config.async.maxStaleness + 1}): the rollouts of a step use a version up to maxStaleness behind` });
        }
      }
    }
    if (policy.kind === 'llm' && policy.rollout.engine === 'gateway' && config.tasks.source !== 'fixed') {
      // An agent is handed a task id and a seed; it can build only the tasks of the environment's fixed splits.
      ctx.addIssue({ code: 'custom', path: ['tasks', 'source'], message: 'gateway episodes are tasks of the fixed splits, which an agent builds from their ids; a generated stream is not' });
    }
    if (config.evaluation.chains && config.env !== 'apps') {
      ctx.addIssue({ code: 'custom', path: ['evaluation', 'chains'], message: `skill libraries (and so evaluation chains) exist only in the apps environment, not ${config.env}` });
    }
    const { passK, passN } = config.evaluation;
    if (passN !== undefined && (passK > 0 ? passN < passK : passN > 0)) {
      const message = passK > 0 ? `must be at least passK (${passK})` : 'samples for pass@k: set passK > 0 too';
      ctx.addIssue({ code: 'custom', path: ['evaluation', 'passN'], message });
    }
  })
  .transform((config) => {
    const defaults = defaultsFor(config.env, config.algorithm);
    const { evaluation, taskQueues } = config;
    const gpu = taskQueues.gpu ?? (config.agent.policy.kind === 'llm' ? DEFAULT_TASK_QUEUES.torch : DEFAULT_TASK_QUEUES.gpu);
    const llm = config.agent.policy.kind === 'llm';
    const timeouts = resolveTimeouts(config.timeouts, llm);
    return {
      ...config,
      timeouts,
      taskQueues: { ...taskQueues, gpu },
      split: config.split ?? defaultSplit(config, 'train'),
      learningRate: config.learningRate ?? defaults.learningRate,
      agent: resolveAgentTraining(config.agent, defaults),
      evaluation: { ...evaluation, split: evaluation.split ?? defaultSplit(config, 'dev'), passN: evaluation.passN ?? evaluation.passK },
    };
  });

/** The parsed fields the cross-field checks read (before defaults by env and algorithm are filled in). */
interface ParsedFields {
  env: EnvName;
  algorithm: Algorithm;
  split?: string;
  tasksPerStep: number;
  bandit: { tasks: number };
  deepsearch: { family: 'single' | 'multi' };
  evaluation: { split?: string; tasks: number };
  dynamicSampling: { maxGroups?: number };
  tasks: { source: 'fixed' | 'synthetic' };
  agent: AgentTrainingInput;
}

/**
 * Counts a split must hold: the step draws tasksPerStep distinct tasks of the training split, and the evaluation,
 * the llm's format SFT and dynamic sampling's budget count tasks too; a larger number would be cut silently.
 */
function checkTaskCounts(config: ParsedFields, ctx: z.RefinementCtx): void {
  const atMostSplit = (path: string[], count: number, split: string, zero = '') => {
    const size = splitSize(config, split);
    if (size === undefined || count <= size) return; // an unknown split is reported on its own
    const tasks = config.env === 'bandit' ? 'bandit.tasks' : `the ${split} split`;
    ctx.addIssue({ code: 'custom', path, message: `must be at most the ${size} tasks of ${tasks}${zero}` });
  };
  const train = config.split ?? defaultSplit(config, 'train');
  if (config.tasks.source === 'fixed') atMostSplit(['tasksPerStep'], config.tasksPerStep, train); // a stream: checkTaskSource
  atMostSplit(['evaluation', 'tasks'], config.evaluation.tasks, config.evaluation.split ?? defaultSplit(config, 'dev'), ' (0 = all of them)');
  const { policy } = config.agent;
  if (policy.kind === 'llm' && policy.sft) atMostSplit(['agent', 'policy', 'sft', 'tasks'], policy.sft.tasks, train, ' (0 = all of them)');
  const { maxGroups } = config.dynamicSampling;
  if (maxGroups !== undefined && maxGroups < config.tasksPerStep) {
    ctx.addIssue({ code: 'custom', path: ['dynamicSampling', 'maxGroups'], message: `counts the step's first tasksPerStep (${config.tasksPerStep}) groups too, so it must be at least that` });
  }
}

/** Settings of the text agent that its environment and its own other settings must allow. */
function checkAgentFitsEnvironment(config: ParsedFields, ctx: z.RefinementCtx): void {
  if (config.env === 'bandit') return; // the bandit has no text agent: the agent section is not used
  const { maxTurns } = config.agent.sampling;
  if (maxTurns !== undefined && maxTurns > MAX_TURNS[config.env]) {
    ctx.addIssue({ code: 'custom', path: ['agent', 'sampling', 'maxTurns'], message: `${config.env} episodes end after at most ${MAX_TURNS[config.env]} turns` });
  }
  const { ppo } = config.agent;
  const minibatch = ppo.minibatchSegments ?? defaultsFor(config.env, config.algorithm).minibatchSegments;
  if (ppo.microbatchSegments !== undefined && ppo.microbatchSegments > minibatch) {
    const source = ppo.minibatchSegments === undefined ? `the ${config.algorithm} default ` : '';
    ctx.addIssue({ code: 'custom', path: ['agent', 'ppo', 'microbatchSegments'], message: `must be at most ppo.minibatchSegments (${source}${minibatch}): a micro-batch is part of a minibatch` });
  }
}

function defaultSplit(config: { env: EnvName; deepsearch: { family: string } }, split: 'train' | 'dev'): string {
  return config.env === 'deepsearch' ? `${config.deepsearch.family}/${split}` : split;
}

/** Attempts per task in an evaluation: one greedy episode, or for pass@k n = max(k, evaluation.passN) samples. */
export function evaluationAttempts(evaluation: { passN: number }, mode: 'greedy' | 'pass@k', k: number): number {
  return mode === 'greedy' ? 1 : Math.max(k, evaluation.passN);
}

/** The split names a config may use for `split` and `evaluation.split`, by environment. */
export function splitsFor(config: { env: EnvName; deepsearch: { family: 'single' | 'multi' } }): string[] {
  if (config.env === 'apps') return [...APPS_SPLITS];
  if (config.env === 'deepsearch') return DEEPSEARCH_SPLITS.map((s) => `${config.deepsearch.family}/${s}`);
  return [...BANDIT_SPLITS];
}

export type RunConfig = z.output<typeof RunConfigSchema>;
export type RunConfigInput = z.input<typeof RunConfigSchema>;

export class InvalidRunConfigError extends Error {
  constructor(readonly issues: { field: string; message: string }[]) {
    super(`invalid run config: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`);
    this.name = 'InvalidRunConfigError';
  }
}

/**
 * A config that validates yet cannot run (a world its settings cannot build, a prompt its model cannot hold): the
 * same config fails the same way, so it is the activities' non-retryable `InvalidRunConfig` type. Temporal names an
 * activity's error by its class (`constructor.name`), not its `name`, hence a class of that name.
 */
class InvalidRunConfig extends Error {
  override name = 'InvalidRunConfig';
}

export function unrunnableConfig(message: string): Error {
  return new InvalidRunConfig(message);
}

/** Parse and fill defaults; throws InvalidRunConfigError whose message names each bad field. */
export function parseRunConfig(input: unknown): RunConfig {
  const result = RunConfigSchema.safeParse(input);
  if (result.success) return result.data;
  throw new InvalidRunConfigError(
    result.error.issues.map((issue) => ({ field: issue.path.length ? issue.path.join('.') : '(root)', message: issue.message })),
  );
}
