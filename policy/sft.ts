/**
 * Supervised fine-tuning on token sequences with loss masks: how the base policy is made from expert
 * demonstrations. Token-mean cross-entropy over the masked tokens, AdamW, clipping, warm-up + cosine decay.
 * Deterministic: the same seed and examples give the same weights on the same backend.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../common/random';
import { logProbsAndEntropyAt, logSoftmaxAt } from './heads';
import type { Model } from './model';
import { AdamW, AdamWConfig, learningRateAt, optimizerStep } from './optim';

/** One demonstration. `lossMask[i] = 1` trains the model to predict `tokens[i]` from the tokens before it. */
export interface SftExample {
  tokens: number[];
  lossMask: number[];
}

export interface SftOptions {
  steps: number;
  batchSize: number;
  seed: number;
  peakLr?: number;
  warmupSteps?: number;
  minLrRatio?: number;
  maxGradNorm?: number;
  adamw?: Partial<AdamWConfig>;
  /** Continue with an existing optimiser (e.g. restored from a checkpoint) instead of a fresh one. */
  optimizer?: AdamW;
  /** Evaluate on these every `evalEvery` steps and at the end. */
  evalExamples?: SftExample[];
  evalEvery?: number;
  /** Padding id for batches (default 0). */
  pad?: number;
  onStep?: (metrics: { step: number; loss: number; gradNorm: number; learningRate: number }) => void;
  onEval?: (evaluation: { step: number } & SftEval) => void;
}

export interface SftEval {
  loss: number;
  /** Share of masked tokens where the argmax prediction is the target. */
  tokenAccuracy: number;
  tokens: number;
}

export interface SftMetrics {
  steps: number;
  losses: number[];
  finalLoss: number;
  trainedTokens: number;
  tokensPerSecond: number;
  /** Examples longer than the context, cut from the left. */
  truncatedExamples: number;
  evals: ({ step: number } & SftEval)[];
  optimizer: AdamW;
}

export interface SftBatch {
  inputs: number[][];
  targets: number[][];
  mask: number[][];
  /** Tokens with mask 1. */
  maskedTokens: number;
}

/** Right-padded next-token batch: inputs = tokens[:-1], targets = tokens[1:], mask = lossMask[1:]. */
export function makeSftBatch(examples: SftExample[], contextLength: number, pad = 0): SftBatch {
  const cut = examples.map((e) => {
    if (e.tokens.length !== e.lossMask.length) throw new Error('SFT example: tokens and lossMask differ in length');
    const start = Math.max(0, e.tokens.length - (contextLength + 1));
    return { tokens: e.tokens.slice(start), lossMask: e.lossMask.slice(start) };
  });
  const T = Math.max(1, ...cut.map((e) => e.tokens.length - 1));
  const row = (values: number[], fill: number) => [...values, ...new Array(T - values.length).fill(fill)];
  const mask = cut.map((e) => row(e.lossMask.slice(1), 0));
  return {
    inputs: cut.map((e) => row(e.tokens.slice(0, -1), pad)),
    targets: cut.map((e) => row(e.tokens.slice(1), pad)),
    mask,
    maskedTokens: mask.flat().reduce((a, b) => a + b, 0),
  };
}

/** The masked targets in the compact [B,A] layout: where each is read, its token, and 1 on real entries. */
function maskedPositions(batch: SftBatch): { positions: number[][]; targets: number[][]; mask: number[][] } {
  const positions = batch.mask.map((row) => row.flatMap((m, t) => (m ? [t] : [])));
  const A = Math.max(1, ...positions.map((p) => p.length));
  const fill = (values: number[]) => [...values, ...new Array(A - values.length).fill(0)];
  return {
    positions: positions.map(fill),
    targets: positions.map((p, b) => fill(p.map((t) => batch.targets[b][t]))),
    mask: positions.map((p) => fill(p.map(() => 1))),
  };
}

/**
 * Mean negative log-likelihood of the masked targets. The LM head runs only at the masked positions
 * (policy/heads.ts): demonstrations put the loss on a short action after a long context.
 */
function maskedNll(model: Model, batch: SftBatch): tf.Scalar {
  const { positions, targets, mask } = maskedPositions(batch);
  const logp = logProbsAndEntropyAt(model, { inputs: batch.inputs, positions, targets }).logProbs; // [B,A]
  return tf.neg(logp.mul(tf.tensor2d(mask, undefined, 'float32')).sum()).div(Math.max(1, batch.maskedTokens)) as tf.Scalar;
}

/**
 * One epoch's order: shuffled, then bucketed so each run of `batchSize` examples has similar lengths (sorted
 * within pools of 16 batches, batches shuffled again). A batch is padded to its longest row and attention costs
 * T², so this roughly halves an epoch's compute on the environments' mixed-length turns.
 */
export function epochOrder(examples: SftExample[], batchSize: number, rng: Rng): SftExample[] {
  const shuffled = rng.shuffle(examples);
  const pool = batchSize * 16;
  const batches: SftExample[][] = [];
  for (let i = 0; i < shuffled.length; i += pool) {
    const sorted = shuffled.slice(i, i + pool).sort((a, b) => a.tokens.length - b.tokens.length);
    for (let j = 0; j < sorted.length; j += batchSize) batches.push(sorted.slice(j, j + batchSize));
  }
  return rng.shuffle(batches).flat();
}

export async function sftTrain(model: Model, examples: SftExample[], opts: SftOptions): Promise<SftMetrics> {
  if (examples.length === 0) throw new Error('sftTrain: no examples');
  const { steps, batchSize } = opts;
  const { contextLength } = model.config;
  const optimizer = opts.optimizer ?? new AdamW(model.weights, opts.adamw);
  const schedule = { peakLr: opts.peakLr ?? 1e-3, warmupSteps: opts.warmupSteps ?? Math.ceil(steps / 20), totalSteps: steps, minLrRatio: opts.minLrRatio };
  const rng = new Rng(opts.seed).fork('sft/order');
  const losses: number[] = [];
  const evals: SftMetrics['evals'] = [];
  let order: SftExample[] = [];
  let trainedTokens = 0;
  const started = performance.now();

  for (let step = 0; step < steps; step++) {
    if (order.length < batchSize) order = [...order, ...epochOrder(examples, batchSize, rng)];
    const batch = makeSftBatch(order.splice(0, batchSize), contextLength, opts.pad);
    const learningRate = learningRateAt(optimizer.stepCount, schedule);
    const { loss, gradNorm } = optimizerStep(model, optimizer, () => maskedNll(model, batch), { learningRate, maxGradNorm: opts.maxGradNorm ?? 1 });
    losses.push(loss);
    trainedTokens += batch.inputs.length * batch.inputs[0].length;
    opts.onStep?.({ step, loss, gradNorm, learningRate });
    if (opts.evalExamples && opts.evalEvery && (step + 1) % opts.evalEvery === 0 && step + 1 < steps) {
      evals.push({ step: step + 1, ...evaluateSft(model, opts.evalExamples, batchSize, opts.pad) });
      opts.onEval?.(evals[evals.length - 1]);
    }
    if (step % 8 === 7) await new Promise<void>((resolve) => setImmediate(resolve)); // keep heartbeats flowing
  }
  const seconds = (performance.now() - started) / 1000;
  if (opts.evalExamples) {
    evals.push({ step: steps, ...evaluateSft(model, opts.evalExamples, batchSize, opts.pad) });
    opts.onEval?.(evals[evals.length - 1]);
  }
  const truncatedExamples = examples.filter((e) => e.tokens.length > contextLength + 1).length;
  return { steps, losses, finalLoss: losses[losses.length - 1], trainedTokens, tokensPerSecond: trainedTokens / seconds, truncatedExamples, evals, optimizer };
}

/** Masked loss and argmax token accuracy over held-out examples. */
export function evaluateSft(model: Model, examples: SftExample[], batchSize = 32, pad = 0): SftEval {
  let nll = 0;
  let correct = 0;
  let tokens = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const batch = makeSftBatch(examples.slice(i, i + batchSize), model.config.contextLength, pad);
    const { positions, targets, mask } = maskedPositions(batch);
    const [logpTensor, argmaxTensor] = tf.tidy(() => {
      const logProbs = logSoftmaxAt(model, { inputs: batch.inputs, positions }); // [B,A,V], one forward pass
      const chosen = tf.oneHot(tf.tensor2d(targets, undefined, 'int32'), model.config.vocabSize).toFloat(); // [B,A,V]
      return [logProbs.mul(chosen).sum(-1), logProbs.argMax(-1)];
    });
    // read outside tidy: tidy scans returned containers element by element
    const logp = logpTensor.arraySync() as number[][];
    const argmax = argmaxTensor.arraySync() as number[][];
    tf.dispose([logpTensor, argmaxTensor]);
    mask.forEach((row, b) =>
      row.forEach((m, a) => {
        if (!m) return;
        nll -= logp[b][a];
        correct += argmax[b][a] === targets[b][a] ? 1 : 0;
        tokens++;
      }),
    );
  }
  return { loss: nll / Math.max(1, tokens), tokenAccuracy: correct / Math.max(1, tokens), tokens };
}
