/**
 * Defaults that depend on the environment or the algorithm. They apply only where the run config leaves a field
 * out (the schemas in run-config.ts and agent.ts make these fields optional and resolve them after parsing);
 * an explicit value always wins. Precedence: the algorithm's, then the environment's, then the generic ones.
 */
import { LOOP_LOSS } from '../rl/group-advantages';
import type { AgentAlgorithm } from './agent';
import type { EnvName } from './run-config';

export interface AgentDefaults {
  /** The run's `learningRate`. */
  learningRate: number;
  /** `agent.sampling.temperature`. */
  temperature: number;
  /** `agent.ppo.*`. */
  epochs: number;
  minibatchSegments: number;
  clipLow: number;
  clipHigh: number;
  dualClip: number | null;
  aggregation: 'token-mean' | 'seq-mean-token-sum' | 'seq-mean-token-mean' | 'seq-mean-token-sum-norm';
  /** `agent.kl.mode`. */
  klMode: 'none' | 'loss' | 'reward';
}

/**
 * Generic: the bandit's learning rate 1 (its softmax policy takes plain gradient steps on logits), PPO with DAPO's
 * clip-higher (0.2 / 0.28) and verl's dual clip 3, a KL loss against the reference.
 */
export const GENERIC_DEFAULTS: AgentDefaults = {
  learningRate: 1,
  temperature: 1,
  epochs: 1,
  minibatchSegments: 32,
  clipLow: 0.2,
  clipHigh: 0.28,
  dualClip: 3,
  aggregation: 'token-mean',
  klMode: 'loss',
};

/**
 * Each text environment's RL settings as measured by bench:learning on this repository's policy
 * (bench/NOTES-learning.md holds the experiments):
 * - apps: AdamW lr 1e-3 collapsed the policy within one step (success 22% -> 0-3%), 3e-4 x 4 epochs within five;
 *   at temperature 1 one rollout in five succeeded where greedy decoding solved half the train tasks. Rollouts
 *   at 0.6 and 2 epochs at 1e-4 trained steadily (test_normal TGC 31.8% -> 56.4% with GRPO, 3 seeds).
 * - deepsearch: episodes are short, so 3e-4 at temperature 1, one epoch, learns steadily (single-hop EM 0 -> ~0.73).
 */
export const ENV_DEFAULTS: Record<EnvName, Partial<AgentDefaults>> = {
  bandit: {},
  apps: { learningRate: 1e-4, temperature: 0.6, epochs: 2 },
  deepsearch: { learningRate: 3e-4, temperature: 1, epochs: 1 },
};

/**
 * LOOP as its paper trains it (rl/group-advantages.ts `LOOP_LOSS`, the single source of the numbers): symmetric
 * clip ε = 0.1 with no dual clip (the plain clipped surrogate), each rollout's loss averaged over its own tokens,
 * no KL, 2 epochs of mini-batches of 32. LOOP's mini-batch counts rollouts; here it counts turn segments, the unit
 * the update batches by.
 */
export const ALGORITHM_DEFAULTS: Partial<Record<AgentAlgorithm, Partial<AgentDefaults>>> = {
  loop: {
    clipLow: LOOP_LOSS.clipLow,
    clipHigh: LOOP_LOSS.clipHigh,
    dualClip: null,
    aggregation: LOOP_LOSS.aggregation,
    klMode: LOOP_LOSS.klCoef === 0 ? 'none' : 'loss',
    epochs: LOOP_LOSS.epochs,
    minibatchSegments: LOOP_LOSS.miniBatchSize,
  },
};

/** The defaults for a run of `algorithm` on `env`; the generic ones when either is not given. */
export function defaultsFor(env?: EnvName, algorithm?: string): AgentDefaults {
  const byAlgorithm = algorithm !== undefined ? ALGORITHM_DEFAULTS[algorithm as AgentAlgorithm] : undefined;
  return { ...GENERIC_DEFAULTS, ...(env ? ENV_DEFAULTS[env] : {}), ...byAlgorithm };
}
