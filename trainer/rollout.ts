/**
 * The online simulator: runs a batch of episodes against an environment, one turn at a time, with every
 * still-running episode's next action generated in one batched ONNX call. Rewards come from the environment's
 * verifier at the last turn only.
 */
import { hashSeed } from '../common/random';
import type { Environment, Episode } from '../envs/types';
import type { GenerateProgress, OrtPolicy } from '../policy/generate';
import type { Tokenizer } from '../policy/tokenizer';
import { promptTokens } from './prompt';
import type { Trajectory, TurnRecord } from './trajectory';

export interface RolloutSpec {
  taskId: string;
  group: number;
  sample: number;
  /** Seeds the episode and the sampling of this rollout. */
  seed: number;
}

export interface SamplingOptions {
  /** 0 = greedy. */
  temperature: number;
  topP: number;
  maxActionTokens: number;
  /** Per-episode turn cap (defaults to the environment's). */
  maxTurns?: number;
}

export interface RolloutOptions extends SamplingOptions {
  policyVersion: number;
  /** Called after every batched turn (activities heartbeat here). */
  onTurn?: (turn: number, running: number) => void;
  /**
   * Called inside each turn's generation, after every prefill run and decode step (GenerateOptions.onProgress):
   * activities heartbeat here too, as an LLM turn can outlast the heartbeat timeout.
   */
  onProgress?: (progress: GenerateProgress) => void;
}

/** Runs a batch of episodes with some policy: what evaluation needs of either policy kind. */
export type PolicyRollout = (env: Environment, specs: RolloutSpec[], opts: RolloutOptions) => Promise<Trajectory[]>;

/** The built-in policy as a PolicyRollout. */
export const builtinRollout =
  (policy: OrtPolicy, tokenizer: Tokenizer): PolicyRollout =>
  (env, specs, opts) =>
    rollout(env, policy, tokenizer, specs, opts);

export async function rollout(
  env: Environment,
  policy: OrtPolicy,
  tokenizer: Tokenizer,
  specs: RolloutSpec[],
  opts: RolloutOptions,
): Promise<Trajectory[]> {
  const episodes: Episode[] = specs.map((s) => env.createEpisode(s.taskId, s.seed, { maxTurns: opts.maxTurns }));
  const turns: TurnRecord[][] = specs.map(() => []);
  const { contextLength } = policy.config;

  for (let turn = 0; ; turn++) {
    const running = episodes.map((_, i) => i).filter((i) => !episodes[i].done);
    if (running.length === 0) break;
    const contexts = running.map((i) => episodes[i].context());
    const prompts = contexts.map((c) => promptTokens(tokenizer, c, contextLength, opts.maxActionTokens));
    // One seed per (batch, turn): the same specs give the same batch composition, hence the same samples.
    const seed = hashSeed(`${specs.map((s) => s.seed).join(',')}/${turn}`);
    const generations = await policy.generate(
      prompts,
      { temperature: opts.temperature, topP: opts.topP, maxTokens: opts.maxActionTokens, stopStrings: [...env.actionStops], seed, onProgress: opts.onProgress },
      tokenizer,
    );
    running.forEach((i, k) => {
      const g = generations[k];
      const result = episodes[i].step(g.text);
      turns[i].push({
        context: contexts[k],
        promptTokens: prompts[k],
        actionTokens: g.tokens,
        sampleLogProbs: g.logProbs,
        action: g.text,
        observation: result.observation,
        error: result.error,
        nextContext: episodes[i].context(),
      });
    });
    opts.onTurn?.(turn, running.length);
  }

  return specs.map((spec, i) => playedTrajectory(spec, episodes[i], turns[i], opts.policyVersion));
}

/** An episode played to its end as a Trajectory: its turns, and the verifier's score of the final state. */
export function playedTrajectory(spec: RolloutSpec, episode: Episode, turns: TurnRecord[], policyVersion: number, extraMetrics: Record<string, number> = {}): Trajectory {
  const score = episode.score();
  return {
    ...spec,
    policyVersion,
    turns,
    reward: score.reward,
    success: score.success,
    finishReason: episode.finishReason,
    envErrors: turns.filter((t) => t.error).length,
    metrics: { ...score.metrics, ...extraMetrics },
  };
}
