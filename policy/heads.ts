/**
 * The policy and critic heads evaluated only where a loss needs them, e.g. at the positions that predict an
 * agent's action tokens. A turn's prompt is ~300 tokens and its action ~15, so the [.., V] log-softmax (the
 * costliest tensor of a small model) shrinks twenty-fold, and the last block's attention and MLP run at those
 * positions only (`hiddenStates` with `positions`). Selection is a one-hot batched matmul, differentiable on
 * every backend (wasm has no gradient for gather).
 */
import * as tf from '@tensorflow/tfjs';
import { hiddenStates, logits, matMul, Model } from './model';

/** Inputs [B,T] and, per row, the positions to read [B,A] and the tokens predicted there [B,A] (pad with 0). */
export interface PositionBatch {
  inputs: number[][];
  positions: number[][];
  targets: number[][];
}

/** Hidden states at the chosen positions: [B,A,C]. Call inside tf.tidy. */
function atActions(model: Model, batch: Pick<PositionBatch, 'inputs' | 'positions'>): tf.Tensor3D {
  return hiddenStates(model, batch.inputs, { positions: batch.positions }); // [B,A,C]
}

/** The policy's log-softmax over the vocabulary at each chosen position, at `temperature`: [B,A,V] (tied LM head, copy head if any). */
export function logSoftmaxAt(policy: Model, batch: Pick<PositionBatch, 'inputs' | 'positions'>, temperature = 1): tf.Tensor3D {
  const z = logits(policy, batch.inputs, { positions: batch.positions }); // [B,A,V]
  return tf.logSoftmax(temperature === 1 ? z : z.div(temperature), -1) as tf.Tensor3D;
}

/** log π_T(target) and the entropy of π_T at each chosen position: each [B,A]. Differentiable. */
export function logProbsAndEntropyAt(policy: Model, batch: PositionBatch, temperature = 1): { logProbs: tf.Tensor2D; entropy: tf.Tensor2D } {
  const logp = logSoftmaxAt(policy, batch, temperature); // [B,A,V]
  const targets = tf.oneHot(tf.tensor2d(batch.targets, undefined, 'int32'), policy.config.vocabSize).toFloat(); // [B,A,V]
  return {
    logProbs: logp.mul(targets).sum(-1) as tf.Tensor2D,
    entropy: tf.neg(tf.exp(logp).mul(logp).sum(-1)) as tf.Tensor2D,
  };
}

/** The critic's value at each chosen position: [B,A]. Differentiable. */
export function valuesAt(critic: Model, batch: PositionBatch): tf.Tensor2D {
  if (critic.kind !== 'critic') throw new Error('valuesAt: needs a critic model');
  const h = atActions(critic, batch); // [B,A,C]
  const [B, A, C] = h.shape;
  return matMul(h.reshape([B * A, C]), critic.weights['value.w']).add(critic.weights['value.b']).reshape([B, A]) as tf.Tensor2D;
}
