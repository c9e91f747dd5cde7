/**
 * The online simulator: runs a batch of episodes against an environment, one turn at a time, with every
 * still-running episode's next action generated in one batched ONNX call. Rewards come from the environment's
 * verifier at the last turn only.
 */
import { hashSeed } from '../common/random';
import type { Environment, Episode } from '../envs/types';
import type { OrtPolicy } from '../policy/generate';
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
}

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
      { temperature: opts.temperature, topP: opts.topP, maxTokens: opts.maxActionTokens, stopStrings: [...env.actionStops], seed },
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

  return specs.map((spec, i) => {
    const score = episodes[i].score();
    return {
      ...spec,
      policyVersion: opts.policyVersion,
      turns: turns[i],
      reward: score.reward,
      success: score.success,
      finishReason: episodes[i].finishReason,
      envErrors: turns[i].filter((t) => t.error).length,
      metrics: score.metrics,
    };
  });
}
