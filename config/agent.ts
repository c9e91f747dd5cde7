/**
 * Settings for training a text agent (apps, deepsearch): the policy's size, sampling, the algorithm's
 * hyper-parameters, KL and the base model. Pure zod, so the workflow validates it with the rest of
 * the run config before the first activity.
 *
 * Settings marked "by env/algorithm" are optional in the input and filled by `resolveAgentTraining` from
 * config/defaults.ts: the run config passes its env and algorithm, `AgentTrainingSchema` alone the generic
 * defaults. The parsed (output) type always holds plain values.
 */
import { z } from 'zod';
import { ARTIFACT_KEY_RULE, isArtifactKey } from '../common/artifact-key';
import { type AgentDefaults, defaultsFor } from './defaults';

export const AGENT_ALGORITHMS = ['ppo', 'grpo', 'drgrpo', 'rloo', 'loop', 'reinforce_pp'] as const;
export type AgentAlgorithm = (typeof AGENT_ALGORITHMS)[number];
/** The critic-free group estimators: the ones that train on informative groups only, and that `stepCredit` refines. */
export const GROUP_ESTIMATORS: readonly string[] = ['grpo', 'drgrpo', 'rloo', 'loop'] satisfies AgentAlgorithm[];

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
}).superRefine((model, ctx) => {
  // policy/model.ts splits the width into heads, and rotary embeddings rotate pairs of each head's dimensions.
  if (model.width % model.heads !== 0) {
    ctx.addIssue({ code: 'custom', path: ['width'], message: `must be divisible by heads (${model.heads}); ${model.width} is not` });
  } else if (model.rotary && (model.width / model.heads) % 2 !== 0) {
    ctx.addIssue({ code: 'custom', path: ['rotary'], message: `rotary embeddings need an even head size; width / heads = ${model.width / model.heads}` });
  }
});

export const SamplingSchema = z.strictObject({
  /** By env (apps 0.6, deepsearch 1). */
  temperature: z.number().min(0).max(5).optional(),
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
  /** By env (apps 2, deepsearch 1) and algorithm (loop 2). */
  epochs: z.int().min(1).max(32).optional(),
  /** Turn segments per optimizer step. By algorithm (loop: LOOP_LOSS.miniBatchSize). */
  minibatchSegments: z.int().min(1).max(4096).optional(),
  /**
   * Segments per forward/backward pass; gradients are accumulated up to the minibatch (bounds memory), so at most
   * minibatchSegments. Absent: 8, or the minibatch when that is smaller.
   */
  microbatchSegments: z.int().min(1).max(512).optional(),
  /** By algorithm: 0.2 / 0.28 (clip-higher), loop 0.1 / 0.1. */
  clipLow: z.number().min(0).max(1).optional(),
  clipHigh: z.number().min(0).max(5).optional(),
  /** By algorithm: 3, loop none; `null` turns it off. */
  dualClip: z.number().gt(1).nullable().optional(),
  /** By algorithm: token-mean, loop seq-mean-token-mean. */
  aggregation: z.enum(['token-mean', 'seq-mean-token-sum', 'seq-mean-token-mean', 'seq-mean-token-sum-norm']).optional(),
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

export const KlSchema = z
  .strictObject({
    /**
     * `loss`: c·KL(π‖π_ref) term in the actor loss; `reward`: −β·KL per token in the reward; `none`.
     * By algorithm: loss, loop none (LOOP trains without KL unless asked).
     */
    mode: z.enum(['none', 'loss', 'reward']).optional(),
    /** c or β; with `targetKl`, β's starting value. */
    coef: z.number().min(0).max(10).default(0.01),
    estimator: z.enum(['k1', 'k2', 'k3', 'abs']).default('k3'),
    /**
     * Adaptive β (Ziegler et al. 2019; rl/kl.ts `updateKlController`): after each step
     * β ← β·(1 + clip(KL/targetKl − 1, ±0.2)·n/horizon). Only `reward` mode adapts β; absent = fixed β.
     */
    targetKl: z.number().positive().optional(),
    /** The controller's horizon in samples (verl's default 10000). */
    horizon: z.int().min(1).max(100_000_000).default(10_000),
  })
  .superRefine((kl, ctx) => {
    if (kl.targetKl !== undefined && kl.mode !== 'reward') {
      ctx.addIssue({ code: 'custom', path: ['targetKl'], message: `adapts β of kl.mode "reward" only; set kl.mode to "reward" (it is ${kl.mode ?? 'absent'})` });
    }
  });

/** GiGPO's step term (agent.stepCredit "gigpo"); defaults are verl-agent's. */
export const GigpoSchema = z.strictObject({
  /** Discount of the step returns γ^(T−1−t)·R. */
  gamma: z.number().min(0).max(1).default(0.95),
  /** ω in A = A^E + ω·A^S. */
  stepWeight: z.number().min(0).max(100).default(1),
  /** Divide A^S by its anchor group's std ("mean_std_norm"); false is "mean_norm". */
  normalizeByStd: z.boolean().default(false),
});

export const BaseModelSchema = z.strictObject({
  /** An existing base checkpoint (from `ratchet sft`); when absent the run builds one on its first step. */
  checkpoint: z
    .strictObject({
      key: z.string().min(1).max(1024).refine(isArtifactKey, `an artifact key: ${ARTIFACT_KEY_RULE}`),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
    })
    .optional(),
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

/** LoRA adapters on a pretrained LLM (peft's LoraConfig); the update trains only these. */
export const LoraSchema = z.strictObject({
  rank: z.int().min(1).max(1024).default(16),
  alpha: z.number().positive().max(4096).default(32),
  dropout: z.number().min(0).max(0.9).default(0),
  /** Linear layers that get an adapter (llama names): all of them by default, as QLoRA found best. */
  targetModules: z.array(z.string().max(128).regex(/^[A-Za-z0-9_.]+$/)).min(1).max(64).default(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']),
});

/**
 * A format SFT of a pretrained LLM before RL (the issue's other base, beside few-shot prompting): the scripted
 * expert plays the train split's tasks, each whole episode is one chat rendered as the rollouts render it
 * (trainer/llm-demonstrations.ts), and the Python worker's initPolicy trains the adapter on the expert's replies.
 */
export const LlmSftSchema = z.strictObject({
  /** Optimizer steps, and demonstration episodes (whole chats) per step. */
  steps: z.int().min(1).max(100_000).default(30),
  batchSize: z.int().min(1).max(256).default(4),
  learningRate: z.number().positive().max(1).default(5e-4),
  /** Expert episodes per train task, and how noisy the expert is (0 = flawless). */
  demosPerTask: z.int().min(1).max(64).default(1),
  demoNoise: z.number().min(0).max(1).default(0),
  /** Demonstrate the first n train tasks only (0 = all): the chats are tokenized up front, and SFT sees few of them. */
  tasks: z.int().min(0).max(100_000).default(0),
});

/** Rollouts on onnxruntime-node in the rollout worker, from the ONNX graph each version publishes (the default). */
const OnnxRolloutSchema = z.strictObject({ engine: z.literal('onnx') });

/** One OpenAI-compatible server. */
export const InferenceServerSchema = z.strictObject({
  /** The API root the OpenAI client takes, `/v1` included: `http://localhost:8000/v1`. */
  baseUrl: z.url({ protocol: /^https?$/, error: 'an http(s) URL such as http://localhost:8000/v1' }).max(2048),
  /**
   * The environment variable that holds the server's API key on the rollout workers (a key in the config would be
   * written into the workflow's history); absent = no key.
   */
  apiKeyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name').max(128).optional(),
});

/**
 * Rollouts through OpenAI-compatible inference servers (policy/llm/openai-engine.ts): prompts go out as token IDs,
 * the sampled IDs and their log-probs come back. `protocol` says what the server can do beyond the completions API:
 * - `vllm`: each version is a LoRA adapter loaded at runtime (`/v1/load_lora_adapter`) under a versioned name;
 * - `ratchet`: `ratchet serve`, which loads stored versions by name on demand;
 * - `llama-cpp`: llama-cpp-python's server, prompts sent as text and the server's tokenization checked against the
 *   IDs. It loads adapters only at start: version 0 is its base model, version v its alias `<run>@v<v>` (a model
 *   entry whose lora_path is the GGUF the torch worker wrote at adapterPath), refused when the server lacks it.
 */
export const OpenAiRolloutSchema = z.strictObject({
  engine: z.literal('openai'),
  protocol: z.enum(['vllm', 'ratchet', 'llama-cpp']),
  servers: z.array(InferenceServerSchema).min(1).max(64),
  /** The base model's served name; absent = the first base model the server lists. */
  model: z.string().min(1).max(512).optional(),
  /** Requests in flight at once, over all servers. */
  concurrency: z.int().min(1).max(4096).default(16),
  /** One request's limit, retries not counted. */
  timeoutMs: z.int().min(1000).max(3_600_000).default(300_000),
  /** Retries of a request that failed on a connection, a timeout, 408/409/429 or 5xx (Retry-After honoured). */
  maxRetries: z.int().min(0).max(20).default(5),
  /**
   * Where the torch worker writes version v's adapter for the server to read (a shared volume); `{run}` and
   * `{version}` are filled in. `vllm` (required): a PEFT adapter directory, e.g. `/shared/adapters/{run}/v{version}`;
   * `llama-cpp` (optional): a llama.cpp LoRA GGUF, e.g. `/shared/adapters/{run}-v{version}.gguf`.
   */
  adapterPath: z.string().min(1).max(4096).optional(),
  /** Versions kept loaded on a server, the newest included (at least async.maxStaleness + 1); older ones are unloaded. */
  keepVersions: z.int().min(1).max(64).default(2),
});

/**
 * Episodes played by your own agent through `ratchet gateway` (serve/gateway.ts): each rollout hands the gateway its
 * episodes (task, seed, version, sampling), agents claim and play them, and the rollout waits until all are done.
 * The gateway's upstream must serve the run's versions by name (`ratchet serve --run <id> --await-run`).
 */
export const GatewayRolloutSchema = z.strictObject({
  engine: z.literal('gateway'),
  /** The gateway's OpenAI base URL, `/v1` included: `http://127.0.0.1:8100/v1`. */
  url: z.url({ protocol: /^https?$/, error: 'an http(s) URL such as http://127.0.0.1:8100/v1' }).max(2048),
  /**
   * Where an episode's reward comes from: `verifier` replays the agent's actions in Ratchet's environment and scores
   * them (the agent's own reward is kept as metrics.agent_reward); `agent` takes the reward the agent posted.
   */
  reward: z.enum(['verifier', 'agent']).default('verifier'),
  /** A rollout with no episode claimed or finished for this long fails (and is retried): no agent is working. */
  idleTimeoutMs: z.int().min(1000).max(86_400_000).default(600_000),
});

export const LlmRolloutSchema = z.discriminatedUnion('engine', [OnnxRolloutSchema, OpenAiRolloutSchema, GatewayRolloutSchema]).prefault({ engine: 'onnx' });

/** The from-scratch transformer of policy/model.ts (the `model` settings), trained in TypeScript. */
const BuiltinPolicySchema = z.strictObject({ kind: z.literal('builtin') });

/**
 * A pretrained chat LLM (llama or qwen2 architecture: policy/llm/models.ts SUPPORTED_ARCHITECTURES), trained by the
 * Python worker on the torch task queue (workers/torch) and rolled out through its chat template on the cpu pool.
 */
export const LlmPolicySchema = z.strictObject({
  kind: z.literal('llm'),
  /** A registered name (`ratchet models list`), a .gguf file, or a Hugging Face model directory. */
  model: z.string().min(1).max(4096),
  /** LoRA settings; `null` fine-tunes every weight (and stores them all in each checkpoint). */
  lora: LoraSchema.nullable().prefault({}),
  /** Solved examples of the scripted expert shown before the task (policy/llm/chat-episode.ts). */
  shots: z.int().min(0).max(8).default(0),
  /** Supervised fine-tuning on the expert's chats before RL; absent = RL starts from the pretrained model. */
  sft: LlmSftSchema.optional(),
  /** Where rollouts run: in process on onnxruntime-node (default), or on OpenAI-compatible inference servers. */
  rollout: LlmRolloutSchema,
  /**
   * fp32 ONNX graphs the run keeps in the artifact store (0.65 GB each for SmolLM2-135M), the newest included:
   * each sync deletes the older ones. Every checkpoint stays. At least async.maxStaleness + 1; null keeps them all.
   */
  keepExports: z.int().min(1).max(100_000).nullable().default(2),
}).superRefine((policy, ctx) => {
  const { rollout } = policy;
  if (rollout.engine !== 'openai' || rollout.protocol === 'ratchet') return;
  if (rollout.protocol === 'llama-cpp') {
    // Optional: where the torch worker writes each version's LoRA GGUF, for a server restarted with it.
    if (rollout.adapterPath && policy.lora === null) ctx.addIssue({ code: 'custom', path: ['rollout', 'adapterPath'], message: 'llama.cpp adapters are LoRA GGUFs; lora: null trains every weight' });
    if (rollout.adapterPath && !rollout.adapterPath.includes('{version}')) {
      ctx.addIssue({ code: 'custom', path: ['rollout', 'adapterPath'], message: `must contain {version} (each version is its own adapter), got "${rollout.adapterPath}"` });
    }
    return;
  }
  if (policy.lora === null) {
    ctx.addIssue({ code: 'custom', path: ['rollout', 'protocol'], message: 'vllm loads each version as a LoRA adapter; lora: null trains every weight (use LoRA, or the onnx engine)' });
  }
  if (!rollout.adapterPath) {
    ctx.addIssue({ code: 'custom', path: ['rollout', 'adapterPath'], message: 'protocol vllm needs adapterPath: where the server reads each version\'s adapter, e.g. "/shared/adapters/{run}/v{version}"' });
  } else if (!rollout.adapterPath.includes('{version}')) {
    ctx.addIssue({ code: 'custom', path: ['rollout', 'adapterPath'], message: `must contain {version} (each version is its own adapter), got "${rollout.adapterPath}"` });
  }
});

export const PolicySchema = z.discriminatedUnion('kind', [BuiltinPolicySchema, LlmPolicySchema]).prefault({ kind: 'builtin' });

export const STEP_CREDITS = ['none', 'salt', 'gigpo'] as const;
export type StepCredit = (typeof STEP_CREDITS)[number];

/** The agent section as written: the "by env/algorithm" settings may be absent. */
export const AgentTrainingInputSchema = z
  .strictObject({
    /**
     * Step-level credit on top of the trajectory advantage of the group estimators (rl/salt.ts):
     * - `none`: every action token of a rollout gets its trajectory's advantage;
     * - `salt`: SALT, each step gets the mean advantage over the rollouts that took the same transition
     *   (what "the same" means: `saltStates`);
     * - `gigpo`: GiGPO, A^E + ω·A^S where A^S compares discounted step returns among the group's steps taken from
     *   the same anchor state; a step's anchor state is the observation its action answered (the task's prompt
     *   for the first turn), verl-agent's `anchor_obs`, not the whole history (settings: `gigpo`).
     */
    stepCredit: z.enum(STEP_CREDITS).optional(),
    /** The old spelling: true = stepCredit "salt", false = "none". */
    salt: z.boolean().optional(),
    /**
     * What makes two SALT steps the same node (stepCredit "salt" only). `observation` (default): the observation
     * the action answered, the action, and the observation it got, so steps from different histories merge (a
     * graph). `history`: the whole context before and after, so only shared prefixes merge (a tree); then each
     * merged node's mean advantage gives the same first-epoch gradient as GRPO (identical steps have identical
     * ∇log π), and SALT changes little.
     */
    saltStates: z.enum(['observation', 'history']).default('observation'),
    gigpo: GigpoSchema.prefault({}),
    /** Which policy: the built-in transformer (default) or a pretrained LLM. */
    policy: PolicySchema,
    /** The built-in policy's size (kind "builtin" only). */
    model: ModelSizeSchema.prefault({}),
    sampling: SamplingSchema.prefault({}),
    ppo: PpoSchema.prefault({}),
    kl: KlSchema.prefault({}),
    base: BaseModelSchema.prefault({}),
  })
  .superRefine((agent, ctx) => {
    // trainer/prompt.ts: the built-in policy's window holds the bos token, at least one context token and the action.
    const { contextLength } = agent.model;
    const { maxActionTokens } = agent.sampling;
    if (agent.policy.kind === 'builtin' && contextLength < maxActionTokens + 2) {
      ctx.addIssue({
        code: 'custom',
        path: ['model', 'contextLength'],
        message: `${contextLength} leaves no room for a prompt beside sampling.maxActionTokens (${maxActionTokens}): needs at least ${maxActionTokens + 2}`,
      });
    }
    if (agent.salt !== undefined && agent.stepCredit !== undefined && stepCreditOf({ salt: agent.salt }) !== agent.stepCredit) {
      ctx.addIssue({
        code: 'custom',
        path: ['salt'],
        message: `salt: ${agent.salt} contradicts stepCredit: "${agent.stepCredit}"; salt is the old spelling of stepCredit, give only stepCredit`,
      });
    }
  });

export type AgentTrainingInput = z.output<typeof AgentTrainingInputSchema>;

/** The step credit a written agent section asks for: `stepCredit`, else the old `salt` flag, else none. */
export function stepCreditOf(agent: Pick<AgentTrainingInput, 'stepCredit' | 'salt'>): StepCredit {
  return agent.stepCredit ?? (agent.salt ? 'salt' : 'none');
}

const DEFAULT_MICROBATCH_SEGMENTS = 8;

/** Fill the settings the input left out from `defaults` (config/defaults.ts); explicit values win. */
export function resolveAgentTraining(agent: AgentTrainingInput, defaults: AgentDefaults) {
  const { salt, stepCredit, sampling, ppo, kl, ...rest } = agent;
  const minibatchSegments = ppo.minibatchSegments ?? defaults.minibatchSegments;
  return {
    ...rest,
    stepCredit: stepCreditOf({ salt, stepCredit }),
    sampling: { ...sampling, temperature: sampling.temperature ?? defaults.temperature },
    ppo: {
      ...ppo,
      epochs: ppo.epochs ?? defaults.epochs,
      minibatchSegments,
      microbatchSegments: ppo.microbatchSegments ?? Math.min(DEFAULT_MICROBATCH_SEGMENTS, minibatchSegments),
      clipLow: ppo.clipLow ?? defaults.clipLow,
      clipHigh: ppo.clipHigh ?? defaults.clipHigh,
      dualClip: ppo.dualClip === undefined ? defaults.dualClip : ppo.dualClip, // null is an explicit "off"
      aggregation: ppo.aggregation ?? defaults.aggregation,
    },
    kl: { ...kl, mode: kl.mode ?? defaults.klMode },
  };
}

export type AgentTraining = ReturnType<typeof resolveAgentTraining>;

/** The agent section alone, with the generic defaults (no env or algorithm to pick others by). */
export const AgentTrainingSchema = AgentTrainingInputSchema.transform((agent): AgentTraining => resolveAgentTraining(agent, defaultsFor()));
