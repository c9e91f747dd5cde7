/**
 * Reducing a per-token loss matrix L (shape [B, T]) to one scalar over the valid tokens (verl `agg_loss`).
 * The choice decides how much each token and each trajectory weighs:
 *
 *   token-mean               Σ_{i,t} L·m / N_tok                      every action token weighs the same (DAPO, default)
 *   seq-mean-token-sum       (1/N_seq) Σ_i Σ_t L·m                    long trajectories weigh more
 *   seq-mean-token-mean      (1/N_seq) Σ_i (Σ_t L·m / Σ_t m)          every trajectory weighs the same (original GRPO, LOOP)
 *   seq-mean-token-sum-norm  Σ_{i,t} L·m / C                          C a constant, default the padded length T (Dr.GRPO)
 *
 * N_tok is the number of valid tokens and N_seq the number of rows with at least one valid token. When one
 * mini-batch is split into micro-batches for gradient accumulation, pass the WHOLE mini-batch's counts in
 * `tokenCount` / `sequenceCount`, otherwise micro-batches with few tokens get too much weight.
 * Masked entries are selected away (tf.where), so even NaN or Inf there cannot reach the result.
 */
import * as tf from '@tensorflow/tfjs';
import { Matrix } from './masks';

export type AggregationMode = 'token-mean' | 'seq-mean-token-sum' | 'seq-mean-token-mean' | 'seq-mean-token-sum-norm';

export interface AggregationOptions {
  /** token-mean denominator; default the number of valid tokens in `mask`. */
  tokenCount?: number;
  /** seq-mean-* denominator; default the number of rows of `mask` with a valid token. */
  sequenceCount?: number;
  /** seq-mean-token-sum-norm constant C; default the padded row length T. */
  normLength?: number;
}

/** L·m with masked entries replaced by 0 (not multiplied, so garbage there cannot leak). */
export function applyMask(loss: tf.Tensor, mask: tf.Tensor): tf.Tensor {
  return tf.where(tf.greater(mask, 0), loss, tf.zerosLike(loss));
}

export function aggregateLoss(
  loss: tf.Tensor2D,
  mask: tf.Tensor2D,
  mode: AggregationMode,
  options: AggregationOptions = {},
): tf.Scalar {
  return tf.tidy(() => {
    const m = tf.cast(tf.greater(mask, 0), 'float32');
    const masked = applyMask(loss, m);
    const rowTokens = tf.sum(m, 1);
    const rowHasTokens = tf.cast(tf.greater(rowTokens, 0), 'float32');
    const sequences = () =>
      options.sequenceCount !== undefined ? tf.scalar(options.sequenceCount) : tf.maximum(tf.sum(rowHasTokens), 1);
    switch (mode) {
      case 'token-mean': {
        const n = options.tokenCount !== undefined ? tf.scalar(options.tokenCount) : tf.sum(m);
        return tf.div(tf.sum(masked), tf.maximum(n, 1)) as tf.Scalar;
      }
      case 'seq-mean-token-sum':
        return tf.div(tf.sum(tf.sum(masked, 1)), sequences()) as tf.Scalar;
      case 'seq-mean-token-mean': {
        const perRow = tf.div(tf.sum(masked, 1), tf.maximum(rowTokens, 1)); // rows without tokens give 0
        return tf.div(tf.sum(perRow), sequences()) as tf.Scalar;
      }
      case 'seq-mean-token-sum-norm':
        return tf.div(tf.sum(masked), options.normLength ?? loss.shape[1]) as tf.Scalar;
    }
  });
}

/** The same reduction over plain numbers (for reference checks and CPU-side metrics). */
export function aggregateLossNumbers(
  loss: Matrix,
  mask: Matrix,
  mode: AggregationMode,
  options: AggregationOptions = {},
): number {
  const rows = loss.map((row, i) => {
    let sum = 0;
    let n = 0;
    row.forEach((v, t) => {
      if (mask[i][t]) {
        sum += v;
        n += 1;
      }
    });
    return { sum, n };
  });
  const tokens = options.tokenCount ?? rows.reduce((a, r) => a + r.n, 0);
  const sequences = options.sequenceCount ?? Math.max(rows.filter((r) => r.n > 0).length, 1);
  const total = rows.reduce((a, r) => a + r.sum, 0);
  switch (mode) {
    case 'token-mean':
      return total / Math.max(tokens, 1);
    case 'seq-mean-token-sum':
      return total / sequences;
    case 'seq-mean-token-mean':
      return rows.reduce((a, r) => a + (r.n > 0 ? r.sum / r.n : 0), 0) / sequences;
    case 'seq-mean-token-sum-norm':
      return total / (options.normLength ?? (loss[0]?.length ?? 1));
  }
}
