/**
 * PPO's clipped policy loss at token level: the one place it is written (verl `compute_policy_loss_vanilla`).
 *
 * With Δ_t = clip(log π_θ − log π_old, −20, 20) and ratio ρ_t = e^Δ_t:
 *
 *   L1 = −A·ρ
 *   L2 = −A·clip(ρ, 1 − ε_low, 1 + ε_high)      ε_high > ε_low is DAPO's clip-higher (0.2 / 0.28)
 *   Lc = max(L1, L2)                             the clipped surrogate, as a loss
 *   L3 = −A·c                                    dual clip (Ye et al. 2019, arXiv 1912.09729), c > 1, default 3
 *   L  = A < 0 ? min(Lc, L3) : Lc                 bounds the loss when a bad action's ratio explodes
 *   L  = w·L                                      stale samples only: AReaL's behaviour weight (rl/off-policy.ts)
 *   pg_loss = agg(L, m)
 *
 * LOOP's `min(ρA, A + ε|A|)` is the same surrogate with ε_low = ε_high = ε and no dual clip (`LOOP_LOSS`).
 * The actor's full objective (`ppoActorLoss`) is pg_loss − c_H·agg(H) + c_KL·agg(KL), one aggregation for all.
 *
 * Inputs are zeroed at masked positions before any arithmetic: selecting a NaN away after exp() keeps the loss
 * finite but not its gradient (0·∂exp(NaN) is NaN). The rates (clip fractions, ppo_kl) are token means over
 * `aggregationOptions.tokenCount` when given, so with a mini-batch's counts every returned scalar is this
 * micro-batch's additive share of the mini-batch's value.
 */
import * as tf from '@tensorflow/tfjs';
import { AggregationMode, AggregationOptions, aggregateLoss, applyMask } from './aggregation';
import { KlEstimator, klLoss } from './kl';

export interface PolicyLossInput {
  /** log π_θ(a_t) of the sampled tokens, [B, T]: the tensor being differentiated. */
  logProbs: tf.Tensor2D;
  /** log π_old(a_t), frozen before the update, [B, T]. */
  oldLogProbs: tf.Tensor2D;
  /** A_t, [B, T]. */
  advantages: tf.Tensor2D;
  /** 1 on action tokens, 0 on prompt / observation / pad, [B, T]. */
  mask: tf.Tensor2D;
  /** w_t = π_prox/π_behav for samples an older version drew, data not differentiated, [B, T]; absent = 1. */
  behaviorWeights?: tf.Tensor2D;
}

export interface PolicyLossOptions {
  /** ε_low: ratio floor 1 − ε_low. Default 0.2. */
  clipLow?: number;
  /** ε_high: ratio ceiling 1 + ε_high. Default 0.2 (DAPO uses 0.28). */
  clipHigh?: number;
  /** Dual-clip constant c (> 1); null turns dual clip off. Default 3. */
  dualClip?: number | null;
  aggregation?: AggregationMode;
  aggregationOptions?: AggregationOptions;
}

export interface PolicyLossResult {
  loss: tf.Scalar;
  /** Fraction of action tokens where the clipped branch is active (L2 > L1). */
  clipFraction: tf.Scalar;
  /** Fraction of action tokens where the dual clip bounds the loss (A < 0 and Lc > L3). */
  dualClipFraction: tf.Scalar;
  /** Masked mean of −Δ (k1 estimate of KL(π_old‖π_θ)); a metric only. */
  ppoKl: tf.Scalar;
}

/** Token mean of a per-token rate, over the whole mini-batch's tokens when the options carry them. */
function tokenRate(x: tf.Tensor, mask: tf.Tensor2D, options: AggregationOptions = {}): tf.Scalar {
  return aggregateLoss(x as tf.Tensor2D, mask, 'token-mean', { tokenCount: options.tokenCount });
}

export function clippedPolicyLoss(input: PolicyLossInput, options: PolicyLossOptions = {}): PolicyLossResult {
  const clipLow = options.clipLow ?? 0.2;
  const clipHigh = options.clipHigh ?? 0.2;
  const dualClip = options.dualClip === undefined ? 3 : options.dualClip;
  if (dualClip !== null && !(dualClip > 1)) throw new Error(`dualClip must be > 1, got ${dualClip}`);
  const { mask } = input;
  return tf.tidy(() => {
    const [logProbs, oldLogProbs, advantages] = [input.logProbs, input.oldLogProbs, input.advantages].map((x) => applyMask(x, mask));
    const logRatio = tf.clipByValue(tf.sub(logProbs, oldLogProbs), -20, 20);
    const ratio = tf.exp(logRatio);
    const negA = tf.neg(advantages);
    const unclipped = tf.mul(negA, ratio);
    const clipped = tf.mul(negA, tf.clipByValue(ratio, 1 - clipLow, 1 + clipHigh));
    const surrogate = tf.maximum(unclipped, clipped);
    let perToken = surrogate;
    let dualClipped = tf.zerosLike(surrogate);
    if (dualClip !== null) {
      const bound = tf.mul(negA, dualClip);
      const negative = tf.less(advantages, 0);
      perToken = tf.where(negative, tf.minimum(surrogate, bound), surrogate);
      dualClipped = tf.cast(tf.logicalAnd(negative, tf.greater(surrogate, bound)), 'float32');
    }
    if (input.behaviorWeights) perToken = tf.mul(perToken, applyMask(input.behaviorWeights, mask));
    const rates = options.aggregationOptions;
    return {
      loss: aggregateLoss(perToken as tf.Tensor2D, mask, options.aggregation ?? 'token-mean', options.aggregationOptions),
      clipFraction: tokenRate(tf.cast(tf.greater(clipped, unclipped), 'float32'), mask, rates),
      dualClipFraction: tokenRate(dualClipped, mask, rates),
      ppoKl: tokenRate(tf.neg(logRatio), mask, rates),
    };
  });
}

export interface ActorLossInput extends PolicyLossInput {
  /** Per-token policy entropy [B, T] (entropyFromLogits), for the entropy bonus. */
  entropy?: tf.Tensor2D;
  /** log π_ref(a_t) [B, T], for the KL loss term. */
  refLogProbs?: tf.Tensor2D;
}

export interface ActorLossOptions extends PolicyLossOptions {
  /** c_H; default 0 (verl). */
  entropyCoef?: number;
  /** c_KL; default 0. Leave 0 when KL is already a reward penalty. */
  klCoef?: number;
  klEstimator?: KlEstimator;
}

export interface ActorLossResult extends PolicyLossResult {
  policyLoss: tf.Scalar;
  entropy: tf.Scalar;
  kl: tf.Scalar;
}

/** loss = pg_loss − c_H·agg(H) + c_KL·agg(KL(π_θ‖π_ref)), every term aggregated the same way. */
export function ppoActorLoss(input: ActorLossInput, options: ActorLossOptions = {}): ActorLossResult {
  const entropyCoef = options.entropyCoef ?? 0;
  const klCoef = options.klCoef ?? 0;
  const mode = options.aggregation ?? 'token-mean';
  if (entropyCoef !== 0 && !input.entropy) throw new Error('entropyCoef set but no entropy given');
  if (klCoef !== 0 && !input.refLogProbs) throw new Error('klCoef set but no refLogProbs given');
  return tf.tidy(() => {
    const pg = clippedPolicyLoss(input, options);
    // aggregateLoss selects masked entropies away before its only arithmetic (the sums); klLoss masks its inputs.
    const entropy = input.entropy ? aggregateLoss(input.entropy, input.mask, mode, options.aggregationOptions) : tf.scalar(0);
    const kl = input.refLogProbs
      ? klLoss(input.logProbs, input.refLogProbs, input.mask, options.klEstimator ?? 'k3', mode, options.aggregationOptions)
      : tf.scalar(0);
    const loss = tf.add(tf.sub(pg.loss, tf.mul(entropyCoef, entropy)), tf.mul(klCoef, kl)) as tf.Scalar;
    return { ...pg, loss, policyLoss: pg.loss, entropy, kl };
  });
}
