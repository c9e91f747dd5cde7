/**
 * Training utilities: AdamW (tfjs has Adam but no decoupled weight decay, and keeps its state by list position),
 * global-norm gradient clipping (tfjs has none), a linear warm-up + cosine decay schedule, and one optimisation
 * step of any scalar loss over a model's trainable weights.
 */
import * as tf from '@tensorflow/tfjs';
import type { Model, WeightArrays } from './model';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Decoupled decay, applied to matrices and embeddings only (nanoGPT): not to biases or LayerNorm. */
  weightDecay: number;
}

export const DEFAULT_ADAMW: AdamWConfig = { beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1 };

/** Everything needed to resume the optimiser exactly: step count, hyperparameters, both moments per weight. */
export interface OptimizerState {
  step: number;
  config: AdamWConfig;
  firstMoment: WeightArrays;
  secondMoment: WeightArrays;
}

export class AdamW {
  readonly config: AdamWConfig;
  private step = 0;
  private readonly m: Record<string, tf.Variable> = {};
  private readonly v: Record<string, tf.Variable> = {};

  /** `params`: weight name -> variable (a model's `weights`). */
  constructor(
    private readonly params: Record<string, tf.Variable>,
    config: Partial<AdamWConfig> = {},
  ) {
    this.config = { ...DEFAULT_ADAMW, ...config };
    for (const [name, p] of Object.entries(params)) {
      // tidy frees the zeros tensors, which would otherwise keep the moments' memory after dispose().
      this.m[name] = tf.tidy(() => tf.variable(tf.zerosLike(p), false));
      this.v[name] = tf.tidy(() => tf.variable(tf.zerosLike(p), false));
    }
  }

  get stepCount(): number {
    return this.step;
  }

  /** One update with gradients keyed by weight name (missing names are left alone). */
  apply(grads: Record<string, tf.Tensor>, learningRate: number): void {
    this.step++;
    const { beta1, beta2, epsilon, weightDecay } = this.config;
    const correction1 = 1 - beta1 ** this.step;
    const correction2 = 1 - beta2 ** this.step;
    tf.tidy(() => {
      for (const [name, g] of Object.entries(grads)) {
        const p = this.params[name];
        if (!p) throw new Error(`AdamW: gradient for unknown weight ${name}`);
        const m = this.m[name].mul(beta1).add(g.mul(1 - beta1));
        const v = this.v[name].mul(beta2).add(g.square().mul(1 - beta2));
        this.m[name].assign(m);
        this.v[name].assign(v);
        const update = m.div(correction1).div(v.div(correction2).sqrt().add(epsilon));
        const decayed = p.rank >= 2 && weightDecay > 0 ? p.mul(1 - learningRate * weightDecay) : p;
        p.assign(decayed.sub(update.mul(learningRate)));
      }
    });
  }

  getState(): OptimizerState {
    const read = (vars: Record<string, tf.Variable>): WeightArrays =>
      Object.fromEntries(Object.entries(vars).map(([name, t]) => [name, { shape: t.shape.slice(), data: t.dataSync() as Float32Array }]));
    return { step: this.step, config: { ...this.config }, firstMoment: read(this.m), secondMoment: read(this.v) };
  }

  setState(state: OptimizerState): void {
    for (const name of Object.keys(this.params)) {
      for (const [vars, saved] of [
        [this.m, state.firstMoment],
        [this.v, state.secondMoment],
      ] as const) {
        const array = saved[name];
        if (!array || array.shape.join(',') !== vars[name].shape.join(',')) throw new Error(`AdamW.setState: moment for ${name} missing or wrong shape`);
        tf.tidy(() => vars[name].assign(tf.tensor(array.data, array.shape, 'float32')));
      }
    }
    this.step = state.step;
    Object.assign(this.config, state.config);
  }

  dispose(): void {
    for (const t of [...Object.values(this.m), ...Object.values(this.v)]) t.dispose();
  }
}

/** Scale gradients so their global L2 norm is at most `maxNorm`. Returns new tensors and the norm before clipping. */
export function clipByGlobalNorm(grads: Record<string, tf.Tensor>, maxNorm: number): { grads: Record<string, tf.Tensor>; norm: number } {
  const norm = tf.tidy(() => tf.sqrt(tf.addN(Object.values(grads).map((g) => g.square().sum()))).dataSync()[0]);
  const scale = Math.min(1, maxNorm / (norm + 1e-6));
  const clipped = tf.tidy(() => Object.fromEntries(Object.entries(grads).map(([name, g]) => [name, g.mul(scale)])));
  return { grads: clipped, norm };
}

export interface ScheduleConfig {
  peakLr: number;
  warmupSteps: number;
  totalSteps: number;
  /** The learning rate decays to peakLr × minLrRatio at totalSteps (default 0.1). */
  minLrRatio?: number;
}

/** Linear warm-up from 0 to peakLr, then cosine decay to peakLr × minLrRatio. `step` counts from 0. */
export function learningRateAt(step: number, schedule: ScheduleConfig): number {
  const { peakLr, warmupSteps, totalSteps } = schedule;
  const minLr = peakLr * (schedule.minLrRatio ?? 0.1);
  if (step < warmupSteps) return (peakLr * (step + 1)) / warmupSteps;
  if (step >= totalSteps) return minLr;
  const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
  return minLr + 0.5 * (peakLr - minLr) * (1 + Math.cos(Math.PI * progress));
}

/**
 * One optimisation step: gradients of `loss` over the model's weights, global-norm clipping, AdamW.
 * `loss` runs inside tfjs's gradient tape and must return a scalar. Returns the loss value and the gradient norm.
 */
export function optimizerStep(
  model: Model,
  optimizer: AdamW,
  loss: () => tf.Scalar,
  opts: { learningRate: number; maxGradNorm?: number },
): { loss: number; gradNorm: number } {
  if (!model.trainable) throw new Error('optimizerStep: the model is frozen (a reference copy?)');
  const { value, grads } = gradients(model, loss);
  const { grads: clipped, norm } = clipByGlobalNorm(grads, opts.maxGradNorm ?? Infinity);
  optimizer.apply(clipped, opts.learningRate);
  tf.dispose([...Object.values(grads), ...Object.values(clipped)]);
  return { loss: value, gradNorm: norm };
}

/** Gradients of `loss` keyed by weight name (for tests and custom loops); the caller disposes them. */
export function gradients(model: Model, loss: () => tf.Scalar): { value: number; grads: Record<string, tf.Tensor> } {
  const byVariable = new Map(Object.entries(model.weights).map(([name, v]) => [v.name, name]));
  const { value, grads: rawGrads } = tf.variableGrads(loss, Object.values(model.weights));
  const grads: Record<string, tf.Tensor> = {};
  for (const [variableName, g] of Object.entries(rawGrads)) grads[byVariable.get(variableName)!] = g;
  const v = value.dataSync()[0];
  value.dispose();
  return { value: v, grads };
}
