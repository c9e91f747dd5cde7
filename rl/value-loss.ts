/**
 * The critic's clipped value loss (verl `compute_value_loss`; CleanRL ppo.py):
 *
 *   v_clip = clip(v̂, V_old − c_v, V_old + c_v)
 *   L_v    = ½ · agg( max((v̂ − R)², (v_clip − R)²) )
 *
 * R is the GAE return. The clip is in return units: with 0/1 rewards c_v ≈ 0.2-0.5 (verl default 0.5).
 * `clipRange: null` gives the plain ½·agg((v̂ − R)²).
 *
 * Inputs are zeroed at masked positions before any arithmetic, so non-finite values there cannot reach the
 * gradient. The clip fraction is a token mean over `aggregationOptions.tokenCount` when given (a micro-batch's
 * additive share of the mini-batch's fraction).
 */
import * as tf from '@tensorflow/tfjs';
import { AggregationMode, AggregationOptions, aggregateLoss, applyMask } from './aggregation';

export interface ValueLossInput {
  /** v̂: the critic's current predictions [B, T] (differentiated). */
  values: tf.Tensor2D;
  /** V_old: predictions frozen before the update [B, T]. */
  oldValues: tf.Tensor2D;
  /** R: value targets [B, T]. */
  returns: tf.Tensor2D;
  mask: tf.Tensor2D;
}

export interface ValueLossOptions {
  /** c_v; default 0.5. */
  clipRange?: number | null;
  aggregation?: AggregationMode;
  aggregationOptions?: AggregationOptions;
}

export interface ValueLossResult {
  loss: tf.Scalar;
  /** Fraction of action tokens where the clipped error is the larger one. */
  clipFraction: tf.Scalar;
}

export function clippedValueLoss(input: ValueLossInput, options: ValueLossOptions = {}): ValueLossResult {
  const clipRange = options.clipRange === undefined ? 0.5 : options.clipRange;
  const { mask } = input;
  return tf.tidy(() => {
    const [values, oldValues, returns] = [input.values, input.oldValues, input.returns].map((x) => applyMask(x, mask));
    const unclippedError = tf.square(tf.sub(values, returns));
    let perToken = unclippedError;
    let clippedActive = tf.zerosLike(unclippedError);
    if (clipRange !== null) {
      const clippedValues = tf.add(oldValues, tf.clipByValue(tf.sub(values, oldValues), -clipRange, clipRange));
      const clippedError = tf.square(tf.sub(clippedValues, returns));
      perToken = tf.maximum(unclippedError, clippedError);
      clippedActive = tf.cast(tf.greater(clippedError, unclippedError), 'float32');
    }
    const mode = options.aggregation ?? 'token-mean';
    return {
      loss: tf.mul(0.5, aggregateLoss(perToken as tf.Tensor2D, mask, mode, options.aggregationOptions)) as tf.Scalar,
      clipFraction: aggregateLoss(clippedActive as tf.Tensor2D, mask, 'token-mean', { tokenCount: options.aggregationOptions?.tokenCount }),
    };
  });
}
