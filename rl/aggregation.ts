/**
 * Reducing a per-token loss matrix L (shape [B, T]) to one scalar over the valid tokens (verl `agg_loss`).
 * The choice decides how much each token and each sequence weighs:
 *
 *   token-mean               Σ_{i,t} L·m / N_tok                      every action token weighs the same (DAPO, default)
 *   seq-mean-token-sum       Σ_{i,t} L·m / N_seq                      long sequences weigh more
 *   seq-mean-token-mean      (1/N_seq) Σ_s (Σ_{t∈s} L·m / n_s)        every sequence weighs the same (original GRPO, LOOP)
 *   seq-mean-token-sum-norm  Σ_{i,t} L·m / (N_seq · C)                C a fixed length, e.g. the longest generation (Dr.GRPO)
 *
 * N_tok is the number of valid tokens, N_seq the number of sequences with at least one, n_s the valid tokens of
 * sequence s. By default a sequence is one row; a caller whose sequences span rows (the trainer: one trajectory,
 * one row per turn) passes each row's n_s in `sequenceTokens`.
 *
 * seq-mean-token-sum-norm follows Dr.GRPO (Liu et al. 2025, arXiv 2503.20783): its objective drops GRPO's
 * 1/|o_i| and keeps the 1/G over sequences; its code (sail-sg/understand-r1-zero `train_zero_math.py` on
 * sail-sg/oat) sums each sequence's tokens over `constant_normalizer=generate_max_length`, then the PPO learner
 * takes the mean over sequences: Σ_{i,t} L·m / (N_seq · C). verl's mode of that name (`core_algos.py agg_loss`)
 * divides by C only, so its loss grows with the batch size. C must be a constant (`ppo.normLength`): the padded
 * length it defaulted to here changed with every micro-batch.
 *
 * When one mini-batch is aggregated in parts (micro-batches for gradient accumulation), give every part the
 * WHOLE mini-batch's counts (`aggregationForParts`): each part's result is then its additive share, and the sum
 * over the parts is the mini-batch's loss exactly, however it is split.
 * Masked entries are selected away (tf.where), so even NaN or Inf there cannot reach the result.
 */
import * as tf from '@tensorflow/tfjs';
import { Matrix } from './masks';

export type AggregationMode = 'token-mean' | 'seq-mean-token-sum' | 'seq-mean-token-mean' | 'seq-mean-token-sum-norm';

export interface AggregationOptions {
  /** N_tok; default the number of valid tokens in `mask`. */
  tokenCount?: number;
  /** N_seq; default the rows of `mask` with a valid token. Required with `sequenceTokens`. */
  sequenceCount?: number;
  /** n_s per row: the valid tokens of the whole sequence the row belongs to; default the row's own count. */
  sequenceTokens?: readonly number[];
  /** C of seq-mean-token-sum-norm, in tokens; required by that mode. */
  normLength?: number;
}

/** L·m with masked entries replaced by 0 (not multiplied, so garbage there cannot leak). */
export function applyMask(loss: tf.Tensor, mask: tf.Tensor): tf.Tensor {
  return tf.where(tf.greater(mask, 0), loss, tf.zerosLike(loss));
}

function checkOptions(mode: AggregationMode, options: AggregationOptions, rows: number): void {
  const { sequenceTokens, sequenceCount, normLength } = options;
  if (sequenceTokens && sequenceCount === undefined) throw new Error('sequenceTokens needs sequenceCount: rows alone cannot tell how many sequences there are');
  if (sequenceTokens && sequenceTokens.length !== rows) throw new Error(`${sequenceTokens.length} sequenceTokens for ${rows} rows`);
  if (mode === 'seq-mean-token-sum-norm' && !((normLength ?? 0) > 0)) throw new Error("seq-mean-token-sum-norm needs normLength (Dr.GRPO's constant C)");
}

export function aggregateLoss(
  loss: tf.Tensor2D,
  mask: tf.Tensor2D,
  mode: AggregationMode,
  options: AggregationOptions = {},
): tf.Scalar {
  checkOptions(mode, options, loss.shape[0]);
  return tf.tidy(() => {
    const m = tf.cast(tf.greater(mask, 0), 'float32');
    const rowSums = tf.sum(applyMask(loss, m), 1); // Σ_t L·m per row
    const rowTokens = tf.sum(m, 1);
    const total = tf.sum(rowSums);
    const atLeastOne = (n: number | tf.Tensor) => tf.maximum(n, 1);
    const sequences = () => atLeastOne(options.sequenceCount ?? tf.sum(tf.cast(tf.greater(rowTokens, 0), 'float32')));
    switch (mode) {
      case 'token-mean':
        return tf.div(total, atLeastOne(options.tokenCount ?? tf.sum(m))) as tf.Scalar;
      case 'seq-mean-token-sum':
        return tf.div(total, sequences()) as tf.Scalar;
      case 'seq-mean-token-mean': {
        const n = options.sequenceTokens ? tf.tensor1d(options.sequenceTokens as number[]) : rowTokens;
        return tf.div(tf.sum(tf.div(rowSums, atLeastOne(n))), sequences()) as tf.Scalar; // rows without tokens give 0
      }
      case 'seq-mean-token-sum-norm':
        return tf.div(total, tf.mul(sequences(), options.normLength!)) as tf.Scalar;
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
  checkOptions(mode, options, loss.length);
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
  const total = rows.reduce((a, r) => a + r.sum, 0);
  const sequences = Math.max(options.sequenceCount ?? rows.filter((r) => r.n > 0).length, 1);
  switch (mode) {
    case 'token-mean':
      return total / Math.max(options.tokenCount ?? rows.reduce((a, r) => a + r.n, 0), 1);
    case 'seq-mean-token-sum':
      return total / sequences;
    case 'seq-mean-token-mean':
      return rows.reduce((a, r, i) => a + r.sum / Math.max(options.sequenceTokens?.[i] ?? r.n, 1), 0) / sequences;
    case 'seq-mean-token-sum-norm':
      return total / (sequences * options.normLength!);
  }
}

/**
 * Whole-batch counts for aggregating a batch in parts whose sequences may span rows: row r of the batch belongs
 * to sequence `sequenceIds[r]` and has `rowTokens[r]` valid tokens. Returns a part's options from its rows'
 * sequence ids; the parts' losses then sum to the whole batch's, for every mode and every split.
 */
export function aggregationForParts(
  sequenceIds: readonly number[],
  rowTokens: readonly number[],
  normLength?: number,
): (partSequenceIds: readonly number[]) => AggregationOptions {
  const tokensOf = new Map<number, number>();
  sequenceIds.forEach((id, r) => tokensOf.set(id, (tokensOf.get(id) ?? 0) + rowTokens[r]));
  const tokenCount = rowTokens.reduce((a, n) => a + n, 0);
  const sequenceCount = [...tokensOf.values()].filter((n) => n > 0).length;
  const tokensOfSequence = (id: number) => {
    const n = tokensOf.get(id);
    if (n === undefined) throw new Error(`sequence ${id} is not in the batch`);
    return n;
  };
  return (ids) => ({ tokenCount, sequenceCount, sequenceTokens: ids.map(tokensOfSequence), ...(normLength !== undefined ? { normLength } : {}) });
}
