/**
 * Trainer efficiency for bench/pipeline.ts: the builtin trainer's achieved FLOP/s (tfjs forward + backward +
 * AdamW on a B x T batch, as bench/policy.ts measures it) over a tfjs matmul peak measured in the same process
 * with the same backend
 * (bench/pipeline.ts measures it before and after the trainer and keeps the higher: the lower would flatter the share).
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../common/random';
import { createPolicy, type ModelConfig, tokenLogProbs } from '../policy/model';
import { AdamW, optimizerStep } from '../policy/optim';

/** Matmul FLOPs of one forward token at attention span S (bench/policy.ts's count): one-hot embedding, blocks, LM head. */
function forwardFlopsPerToken(c: ModelConfig, span: number): number {
  const { vocabSize: V, width: C, layers: L } = c;
  return 2 * V * C + L * (24 * C * C + 4 * span * C) + 2 * V * C;
}

export function tfjsMatmulPeak(n: number, reps: number): number {
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const once = () => {
    const c = tf.matMul(a, a);
    c.dataSync();
    c.dispose();
  };
  once();
  const started = performance.now();
  for (let i = 0; i < reps; i++) once();
  const s = (performance.now() - started) / 1000;
  a.dispose();
  return (2 * n ** 3 * reps) / s;
}

export interface TrainerFigure {
  model: string;
  tokensPerSecond: number;
  flopsPerSecond: number;
}

/** Tokens/s and FLOP/s of `steps` AdamW steps on a batch of B rows of T tokens (forward + backward = 3 forwards). */
export function tfjsTrainer(label: string, config: ModelConfig, batch: number, length: number, steps: number): TrainerFigure {
  const policy = createPolicy(config, 1);
  const optimizer = new AdamW(policy.weights);
  const rng = new Rng(7);
  const ids = Array.from({ length: batch }, () => Array.from({ length: length + 1 }, () => rng.int(3, config.vocabSize - 1)));
  const inputs = ids.map((r) => r.slice(0, -1));
  const targets = ids.map((r) => r.slice(1));
  const step = () => optimizerStep(policy, optimizer, () => tokenLogProbs(policy, inputs, targets).mean().neg() as tf.Scalar, { learningRate: 1e-4, maxGradNorm: 1 });
  step(); // warm-up
  const started = performance.now();
  for (let i = 0; i < steps; i++) step();
  const tokensPerSecond = (steps * batch * length) / ((performance.now() - started) / 1000);
  optimizer.dispose();
  tf.dispose(Object.values(policy.weights));
  return { model: label, tokensPerSecond, flopsPerSecond: 3 * forwardFlopsPerToken(config, (length + 1) / 2) * tokensPerSecond };
}
