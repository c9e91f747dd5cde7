/**
 * Settings for training a text agent (apps, deepsearch): the policy's size, sampling, the algorithm's
 * hyper-parameters, KL and the base model. Pure zod, so the workflow validates it with the rest of
 * the run config before the first activity.
 */
import { z } from 'zod';

export const AGENT_ALGORITHMS = ['ppo', 'grpo', 'drgrpo', 'rloo', 'loop', 'reinforce_pp'] as const;
export type AgentAlgorithm = (typeof AGENT_ALGORITHMS)[number];

/**
 * The text agent's model. Default 2 layers x width 128 with a copy head (~0.58M parameters at a ~700-piece vocabulary): on the
 * wasm backend the 4 x 192 policy/model default runs ~7 s per 8-sequence SFT step here and its peak wasm heap
 * nears the backend's limit on 512-token batches.
 */
export const ModelSizeSchema = z.strictObject({
  layers: z.int().min(1).max(24).default(2),
  heads: z.int().min(1).max(32).default(4),
  width: z.int().min(8).max(1024).default(128),
  contextLength: z.int().min(32).max(4096).default(512),
  maxVocab: z.int().min(512).max(32_768).default(2048),
  /**
   * Copy (pointer) head: the policy can point at a context token instead of generating it (policy/model.ts). On
   * by default: at equal settings it lifted apps SFT action-token accuracy from 91.5% to 95.8% (held-out turns of
   * trained episodes, measured with the first tokenizer), and typing names and values from the context is what
   * held-out tasks need.
   */
  copyHead: z.boolean().default(true),
  /**
   * Rotary position embeddings instead of learned absolute positions (policy/model.ts). Copying a name token by
   * token is then one rule at every offset: deepsearch single-hop EM after 30 GRPO steps went 0.385 -> 0.535 from
   * otherwise equal bases (bench/learning.ts, which turns it on for deepsearch).
   */
  rotary: z.boolean().default(false),
});

export const SamplingSchema = z.strictObject({
  temperature: z.number().min(0).max(5).default(1),
  topP: z.number().gt(0).max(1).default(1),
  /**
   * Longest action the policy may write; SFT refuses a demonstration whose action is longer. Apps' expert
   * writes up to 54 pieces in train and test_normal, its noisy mistakes up to 66 (values spelled out by
   * characters vary by world); each piece here is one less for the prompt.
   */
  maxActionTokens: z.int().min(1).max(1024).default(72),
  /** Per-episode turn cap; the environment's default when absent. */
  maxTurns: z.int().min(1).max(200).optional(),
});

export const PpoSchema = z.strictObject({
  epochs: z.int().min(1).max(32).default(1),
  /** Turn segments per optimizer step. */
  minibatchSegments: z.int().min(1).max(4096).default(32),
  /** Segments per forward/backward pass; gradients are accumulated up to the minibatch (bounds memory). */
  microbatchSegments: z.int().min(1).max(512).default(8),
  clipLow: z.number().min(0).max(1).default(0.2),
  clipHigh: z.number().min(0).max(5).default(0.28),
  dualClip: z.number().gt(1).nullable().default(3),
  aggregation: z.enum(['token-mean', 'seq-mean-token-sum', 'seq-mean-token-mean', 'seq-mean-token-sum-norm']).default('token-mean'),
  /**
   * C of `seq-mean-token-sum-norm` (Dr.GRPO): a fixed number of action tokens, so the loss does not depend on how a
   * minibatch is split or on the longest action in it.
   */
  normLength: z.int().min(1).max(1_000_000).default(1024),
  entropyCoef: z.number().min(0).max(1).default(0),
  maxGradNorm: z.number().positive().default(1),
  gamma: z.number().min(0).max(1).default(1),
  lambda: z.number().min(0).max(1).default(1),
  criticLearningRate: z.number().positive().max(1).default(1e-4),
  valueClip: z.number().positive().nullable().default(0.5),
});

export const KlSchema = z.strictObject({
  /** `loss`: c·KL(π‖π_ref) term in the actor loss; `reward`: −β·KL per token in the reward; `none`. */
  mode: z.enum(['none', 'loss', 'reward']).default('loss'),
  coef: z.number().min(0).max(10).default(0.01),
  estimator: z.enum(['k1', 'k2', 'k3', 'abs']).default('k3'),
  /** With `reward` mode: adapt β toward this KL (Ziegler et al.); absent = fixed β. */
  targetKl: z.number().positive().optional(),
});

export const BaseModelSchema = z.strictObject({
  /** An existing base checkpoint (from `ratchet sft`); when absent the run builds one on its first step. */
  checkpoint: z.strictObject({ key: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).optional(),
  /** Expert demonstrations per train task, and how noisy the expert is (0 = flawless). */
  demosPerTask: z.int().min(1).max(64).default(2),
  demoNoise: z.number().min(0).max(1).default(0.3),
  /** Share of demonstrations with the environment's systematic weak-model habit (ExpertOptions.habit). */
  demoHabit: z.number().min(0).max(1).default(0),
  /**
   * Demonstrations come from the split's tasks in this many worlds: the run's own and those the environment
   * builds from the next seeds. More worlds give more distinct names, passwords and ids, so the policy learns to
   * copy them from its context instead of memorising one world's values (deepsearch single-hop EM after 30 GRPO
   * steps: 0.385 from one world, 0.62 from eight; bench/learning.ts).
   */
  demoWorlds: z.int().min(1).max(64).default(1),
  sftSteps: z.int().min(1).max(100_000).default(300),
  sftBatchSize: z.int().min(1).max(512).default(8),
  sftLearningRate: z.number().positive().max(1).default(2e-3),
  /**
   * A second SFT stage, continuing from the first on the same worlds' demonstrations but with this share carrying
   * the habit: a base that learns the task cleanly first and then picks up the weak model's habit is a capable
   * model with one bad habit, the seed's starting point. Deepsearch multi-hop (bench/learning.ts): 1500 clean
   * steps then 150 at 1e-3 with habit 0.6 took greedy EM 0.29 -> 0.005, and 30 GRPO steps trained the habit away
   * (0.315); one stage with the habit gave RL no successful rollout in 9 steps.
   */
  habitFinetune: z
    .strictObject({
      steps: z.int().min(1).max(100_000),
      learningRate: z.number().positive().max(1).default(1e-3),
      demoHabit: z.number().min(0).max(1),
    })
    .optional(),
});

export const AgentTrainingSchema = z.strictObject({
  /** SALT: step-level advantages from the trajectory graph on top of the group estimator. */
  salt: z.boolean().default(false),
  /**
   * What makes two SALT steps the same node. `observation` (default): the observation the action answered, the
   * action, and the observation it got, so steps from different histories merge (a graph). `history`: the whole
   * context before and after, so only shared prefixes merge (a tree); then each merged node's mean advantage
   * gives the same first-epoch gradient as GRPO (identical steps have identical ∇log π), and SALT changes little.
   */
  saltStates: z.enum(['observation', 'history']).default('observation'),
  model: ModelSizeSchema.prefault({}),
  sampling: SamplingSchema.prefault({}),
  ppo: PpoSchema.prefault({}),
  kl: KlSchema.prefault({}),
  base: BaseModelSchema.prefault({}),
});

export type AgentTraining = z.output<typeof AgentTrainingSchema>;
