/**
 * KL to the frozen reference policy, per token, from log-probs of the sampled token (Schulman, "Approximating
 * KL divergence", http://joschu.net/blog/kl-approx.html). With Δ = log π(a) − log π_ref(a), a ~ π:
 *
 *   k1 = Δ                                unbiased, high variance, can be negative
 *   k2 = ½·Δ²                             biased, low variance, ≥ 0
 *   k3 = e^x − x − 1,  x = clip(−Δ, −20, 20), result clipped to [−10, 10]   unbiased, low variance, ≥ 0
 *   abs = |Δ|
 *
 * Two ways to use it: as a reward penalty r_t ← r_t − β·KL_t on action tokens (classic RLHF-PPO; β fixed or
 * adaptive) before computing advantages, or as a loss term c·agg(KL) added to the policy loss (GRPO style,
 * k3 usual). Use one, not both.
 */
import * as tf from '@tensorflow/tfjs';
import { Matrix, assertSameShape } from './masks';
import { AggregationMode, AggregationOptions, aggregateLoss, applyMask } from './aggregation';

export type KlEstimator = 'k1' | 'k2' | 'k3' | 'abs';

/** Per-token KL estimate on plain numbers. */
export function klEstimate(logProb: number, refLogProb: number, estimator: KlEstimator): number {
  const delta = logProb - refLogProb;
  switch (estimator) {
    case 'k1':
      return delta;
    case 'k2':
      return 0.5 * delta * delta;
    case 'abs':
      return Math.abs(delta);
    case 'k3': {
      const x = Math.min(Math.max(-delta, -20), 20);
      return Math.min(Math.max(Math.exp(x) - x - 1, -10), 10);
    }
  }
}

/** Per-token KL estimate as a differentiable tensor (same formulas). */
export function klEstimateTensor(logProbs: tf.Tensor, refLogProbs: tf.Tensor, estimator: KlEstimator): tf.Tensor {
  return tf.tidy(() => {
    const delta = tf.sub(logProbs, refLogProbs);
    switch (estimator) {
      case 'k1':
        return delta;
      case 'k2':
        return tf.mul(0.5, tf.square(delta));
      case 'abs':
        return tf.abs(delta);
      case 'k3': {
        const x = tf.clipByValue(tf.neg(delta), -20, 20);
        return tf.clipByValue(tf.sub(tf.sub(tf.exp(x), x), 1), -10, 10);
      }
    }
  });
}

/**
 * KL as a loss term: agg(KL_t) over action tokens (multiply by the KL coefficient yourself or in ppoActorLoss).
 * Both log-probs are zeroed at masked positions first, so non-finite values there reach neither loss nor gradient.
 */
export function klLoss(
  logProbs: tf.Tensor2D,
  refLogProbs: tf.Tensor2D,
  mask: tf.Tensor2D,
  estimator: KlEstimator = 'k3',
  aggregation: AggregationMode = 'token-mean',
  aggregationOptions: AggregationOptions = {},
): tf.Scalar {
  return tf.tidy(() => {
    const perToken = klEstimateTensor(applyMask(logProbs, mask), applyMask(refLogProbs, mask), estimator);
    return aggregateLoss(perToken as tf.Tensor2D, mask, aggregation, aggregationOptions);
  });
}

export interface KlPenaltyResult {
  /** r_t − β·KL_t on action tokens, r_t elsewhere. */
  rewards: Matrix;
  /** Per-token KL on action tokens, 0 elsewhere. */
  kl: Matrix;
  /** Batch mean of each row's mean KL over its action tokens: what the adaptive controller reads. */
  meanKl: number;
}

/** KL as a reward penalty (verl `apply_kl_penalty`): r_t ← r_t − β·KL(π_old, π_ref)_t · m_t. */
export function applyKlPenalty(
  tokenRewards: Matrix,
  oldLogProbs: Matrix,
  refLogProbs: Matrix,
  mask: Matrix,
  beta: number,
  estimator: KlEstimator = 'k1',
): KlPenaltyResult {
  assertSameShape(mask, { tokenRewards, oldLogProbs, refLogProbs });
  const kl = mask.map((row, i) => row.map((m, t) => (m ? klEstimate(oldLogProbs[i][t], refLogProbs[i][t], estimator) : 0)));
  const rewards = tokenRewards.map((row, i) => row.map((r, t) => r - beta * kl[i][t]));
  const rowMeans = kl.flatMap((row, i) => {
    const n = mask[i].reduce((a, m) => a + (m ? 1 : 0), 0);
    return n > 0 ? [row.reduce((a, v) => a + v, 0) / n] : [];
  });
  const meanKl = rowMeans.reduce((a, v) => a + v, 0) / Math.max(rowMeans.length, 1);
  return { rewards, kl, meanKl };
}

/** The β controller lives in its own tensor-free file so the workflow can import it. */
export { type KlController, updateKlController } from './kl-controller';
