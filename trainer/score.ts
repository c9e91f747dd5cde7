/**
 * scoreBatch's domain half: with the weights frozen, the log-probs of the sampled actions under the current
 * policy (the PPO ratio's denominator), under the frozen reference, and the critic's values, all in row space.
 * Recomputed here rather than taken from the sampler, so the loss never depends on inference-engine numerics.
 */
import * as tf from '@tensorflow/tfjs';
import type { Model } from '../policy/model';
import { logProbsAndEntropyAt, valuesAt } from '../policy/heads';
import { type Matrix, offPolicyCorrection, type OffPolicyStats, zerosLike } from '../rl';
import { buildSegments, byLength, rowMask, Segment, segmentBatch, writeRows } from './segments';
import type { Trajectory } from './trajectory';

export interface Scores {
  oldLogProbs: Matrix;
  refLogProbs?: Matrix;
  values?: Matrix;
  /** Mean entropy of the policy over the scored action tokens. */
  entropy: number;
  /** The trajectories scored, when only some were (the rest have zero rows); absent = all. */
  scored?: number[];
  /** Asynchronous training: π_prox/π_behav per token for samples an older version drew (rl/off-policy.ts). */
  behaviorWeights?: Matrix;
}

export interface ScoreModels {
  policy: Model;
  reference?: Model;
  critic?: Model;
}


export async function scoreTrajectories(
  models: ScoreModels,
  trajectories: Trajectory[],
  opts: { chunk?: number; only?: readonly number[]; temperature?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<Scores> {
  const chunk = opts.chunk ?? 16;
  const temperature = opts.temperature ?? 1; // the rollouts' (lossTemperature): the loss's log π_T must match
  const only = opts.only && new Set(opts.only);
  const all = buildSegments(trajectories);
  const segments = byLength(only ? all.filter((s) => only.has(s.trajectory)) : all); // similar lengths share a batch: less padding
  const mask = rowMask(trajectories);
  const oldLogProbs = zerosLike(mask);
  const refLogProbs = models.reference ? zerosLike(mask) : undefined;
  const values = models.critic ? zerosLike(mask) : undefined;
  let entropySum = 0;
  let tokens = 0;

  for (let start = 0; start < segments.length; start += chunk) {
    const part: Segment[] = segments.slice(start, start + chunk);
    const batch = segmentBatch(part);
    const [logp, entropy, ref, value] = tf.tidy(() => {
      const policy = logProbsAndEntropyAt(models.policy, batch, temperature); // [B,A] each
      const ref = models.reference ? logProbsAndEntropyAt(models.reference, batch, temperature).logProbs : undefined;
      const value = models.critic ? valuesAt(models.critic, batch) : undefined; // [B,A]
      return [policy.logProbs, policy.entropy, ref, value];
    });
    const logpRows = (await logp.array()) as number[][];
    writeRows(oldLogProbs, part, logpRows);
    const entropyRows = (await entropy.array()) as number[][];
    entropyRows.forEach((row, i) => row.forEach((h, t) => (entropySum += batch.mask[i][t] * h)));
    tokens += batch.tokens;
    if (ref && refLogProbs) writeRows(refLogProbs, part, (await ref.array()) as number[][]);
    if (value && values) writeRows(values, part, (await value.array()) as number[][]);
    tf.dispose([logp, entropy, ref, value].filter((t): t is tf.Tensor2D => t !== undefined));
    opts.onProgress?.(Math.min(start + chunk, segments.length), segments.length);
    await new Promise<void>((resolve) => setImmediate(resolve)); // let heartbeats through
  }
  return { oldLogProbs, refLogProbs, values, entropy: tokens ? entropySum / tokens : 0, ...(opts.only ? { scored: [...opts.only] } : {}) };
}

/** The sampler's recorded log-probs (`sampleLogProbs`) in row space (the shape of `mask`), 0 on padding. */
function sampleRows(trajectories: readonly Trajectory[], mask: Matrix): Matrix {
  return trajectories.map((trajectory, t) => {
    const row = mask[t].map(() => 0);
    trajectory.turns.flatMap((turn) => turn.sampleLogProbs).forEach((x, k) => (row[k] = x));
    return row;
  });
}

/**
 * With samples an older version drew (asynchronous training), their behaviour weights added to the scores;
 * `undefined` stats when every sample is fresh (the scores are returned unchanged).
 */
export function correctStaleSamples(
  trajectories: readonly Trajectory[],
  scores: Scores,
  opts: { version: number; maxStaleness: number; cap: number },
): { scores: Scores; offPolicy?: OffPolicyStats } {
  const versions = trajectories.map((t) => t.policyVersion);
  if (versions.every((v) => v === opts.version)) return { scores };
  const mask = rowMask(trajectories);
  const { weights, ...offPolicy } = offPolicyCorrection(
    { versions, behaviorLogProbs: sampleRows(trajectories, mask), proximalLogProbs: scores.oldLogProbs, mask, only: scores.scored },
    opts,
  );
  return { scores: { ...scores, behaviorWeights: weights }, offPolicy };
}
