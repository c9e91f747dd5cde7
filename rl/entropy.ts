/**
 * Policy entropy per token from the logits over the vocabulary (verl `entropy_from_logits`):
 *
 *   H = logsumexp(z) − Σ_v softmax(z)_v · z_v     ( = −Σ_v p_v log p_v )
 *
 * Aggregate it over action tokens with `aggregateLoss`; the actor loss subtracts c_H·H (an entropy bonus).
 */
import * as tf from '@tensorflow/tfjs';

/** logits [B, T, V] -> entropy [B, T]. */
export function entropyFromLogits(logits: tf.Tensor3D): tf.Tensor2D {
  return tf.tidy(() => {
    const probs = tf.softmax(logits, -1);
    return tf.sub(tf.logSumExp(logits, -1), tf.sum(tf.mul(probs, logits), -1)) as tf.Tensor2D;
  });
}
