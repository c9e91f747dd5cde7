/**
 * The policy: a small decoder-only transformer in TensorFlow.js, in the shape of nanoGPT.
 *
 * Pre-LayerNorm blocks, causal self-attention, learned positions, GELU (erf form) MLP, LM head tied to the
 * token embedding. Token embedding is a one-hot matmul because the wasm backend has no gradient for gather.
 * Weights live in a flat map keyed by stable names (`h.0.attn.wqkv`), so ONNX export and checkpoints walk one
 * map. The critic is the same trunk with a per-token value head, as its own model; the reference is a frozen
 * copy of the base policy.
 *
 * Batches are right-padded: attention is causal only, so padding after a sequence never changes it.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../common/random';

export interface ModelConfig {
  vocabSize: number;
  /** Longest sequence (prompt + generated tokens) the model sees; also the number of learned positions. */
  contextLength: number;
  layers: number;
  heads: number;
  /** Embedding width C; must divide by `heads`. */
  width: number;
  /** Dropout on embeddings and residual branches while training (0 for RL: ratios must be exact). */
  dropout: number;
  /**
   * Copy (pointer) head on the policy: the next-token distribution mixes the LM head's softmax with an attention
   * over the context's own tokens, p = (1-g)·softmax(lm) + g·Σ_j att_j·[x_j = v] (See et al. 2017's
   * pointer-generator). Lets a small model copy a session token or password it has never seen as a target.
   */
  copyHead?: boolean;
  /**
   * Rotary position embeddings (RoPE, Su et al. 2021) on every attention's queries and keys instead of learned
   * absolute positions: attention then sees relative offsets directly, which is what locating "the value after
   * `phone=`" in a long prompt needs.
   */
  rotary?: boolean;
}

/**
 * About 2.3M parameters at a 2,048-token vocabulary: trains at a few thousand tokens/s on one wasm core
 * and holds a ~1,500-character environment context (about 400-500 tokens) in 512 positions.
 */
export const DEFAULT_MODEL_CONFIG: ModelConfig = {
  vocabSize: 2048,
  contextLength: 512,
  layers: 4,
  heads: 4,
  width: 192,
  dropout: 0,
};

export type ModelKind = 'policy' | 'critic';

/** Plain weights, independent of any tfjs backend: what export, checkpoints and weight sync exchange. */
export type WeightArrays = Record<string, { shape: number[]; data: Float32Array }>;

export interface Model {
  kind: ModelKind;
  config: ModelConfig;
  /** Flat map from stable weight names to variables (insertion order = `weightShapes` order). */
  weights: Record<string, tf.Variable>;
  trainable: boolean;
}

/** A token batch as ids [B,T]: a tensor (int32) or nested arrays. */
export type TokenBatch = tf.Tensor2D | number[][];

const LN_EPSILON = 1e-5;
const MASKED = -1e9; // finite, so a fully masked row gives a uniform softmax instead of NaN

export function validateConfig(config: ModelConfig): void {
  const { vocabSize, contextLength, layers, heads, width, dropout } = config;
  for (const [name, value] of Object.entries({ vocabSize, contextLength, layers, heads, width })) {
    if (!Number.isInteger(value) || value <= 0) throw new Error(`ModelConfig.${name} must be a positive integer, got ${value}`);
  }
  if (width % heads !== 0) throw new Error(`ModelConfig.width (${width}) must be divisible by heads (${heads})`);
  if (!(dropout >= 0 && dropout < 1)) throw new Error(`ModelConfig.dropout must be in [0, 1), got ${dropout}`);
}

/** Every weight's name and shape, in a fixed order. */
export function weightShapes(config: ModelConfig, kind: ModelKind): Record<string, number[]> {
  const { vocabSize: V, contextLength: P, width: C } = config;
  const shapes: Record<string, number[]> = config.rotary ? { wte: [V, C] } : { wte: [V, C], wpe: [P, C] };
  for (let i = 0; i < config.layers; i++) {
    Object.assign(shapes, {
      [`h.${i}.ln1.g`]: [C],
      [`h.${i}.ln1.b`]: [C],
      [`h.${i}.attn.wqkv`]: [C, 3 * C],
      [`h.${i}.attn.bqkv`]: [3 * C],
      [`h.${i}.attn.wo`]: [C, C],
      [`h.${i}.attn.bo`]: [C],
      [`h.${i}.ln2.g`]: [C],
      [`h.${i}.ln2.b`]: [C],
      [`h.${i}.mlp.w1`]: [C, 4 * C],
      [`h.${i}.mlp.b1`]: [4 * C],
      [`h.${i}.mlp.w2`]: [4 * C, C],
      [`h.${i}.mlp.b2`]: [C],
    });
  }
  Object.assign(shapes, { 'lnf.g': [C], 'lnf.b': [C] });
  if (kind === 'policy' && config.copyHead) Object.assign(shapes, { 'copy.wq': [C, C], 'copy.wk': [C, C], 'copy.wg': [C, 1], 'copy.bg': [1] });
  if (kind === 'critic') Object.assign(shapes, { 'value.w': [C, 1], 'value.b': [1] });
  return shapes;
}

export function parameterCount(config: ModelConfig, kind: ModelKind = 'policy'): number {
  return Object.values(weightShapes(config, kind)).reduce((sum, shape) => sum + shape.reduce((a, b) => a * b, 1), 0);
}

/** GPT-2 initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2L), LayerNorm gain 1, the rest 0. */
export function initWeights(config: ModelConfig, kind: ModelKind, seed: number): WeightArrays {
  validateConfig(config);
  const rng = new Rng(seed).fork(`init/${kind}`);
  const out: WeightArrays = {};
  for (const [name, shape] of Object.entries(weightShapes(config, kind))) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith('.g')) data.fill(1);
    else if (shape.length === 2 && name !== 'value.w' && name !== 'copy.wg') {
      const std = name.endsWith('attn.wo') || name.endsWith('mlp.w2') ? 0.02 / Math.sqrt(2 * config.layers) : 0.02;
      for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
    }
    out[name] = { shape, data };
  }
  return out;
}

let modelCounter = 0;

/** Variables from plain weights. Variable names get a unique prefix because tfjs names are global. */
export function modelFromWeights(config: ModelConfig, kind: ModelKind, arrays: WeightArrays, trainable = true): Model {
  validateConfig(config);
  const prefix = `${kind}${modelCounter++}`;
  const weights: Record<string, tf.Variable> = {};
  for (const [name, shape] of Object.entries(weightShapes(config, kind))) {
    const array = arrays[name];
    if (!array) throw new Error(`weights: missing ${name}`);
    if (array.shape.join(',') !== shape.join(',')) throw new Error(`weights: ${name} has shape [${array.shape}], expected [${shape}]`);
    // tidy frees the initial tensor, which would otherwise keep the weights' memory after the variable's dispose.
    weights[name] = tf.tidy(() => tf.variable(tf.tensor(array.data, shape, 'float32'), trainable, `${prefix}/${name}`));
  }
  return { kind, config: { ...config }, weights, trainable };
}

export function createPolicy(config: ModelConfig, seed: number): Model {
  return modelFromWeights(config, 'policy', initWeights(config, 'policy', seed));
}

export function createCritic(config: ModelConfig, seed: number): Model {
  return modelFromWeights(config, 'critic', initWeights(config, 'critic', seed));
}

/** A frozen copy (the KL reference): same weights, not trainable, unaffected by later updates to `model`. */
export function referenceCopy(model: Model): Model {
  return modelFromWeights(model.config, model.kind, getWeights(model), false);
}

/** Read every weight back to plain arrays (synchronous download). */
export function getWeights(model: Model): WeightArrays {
  const out: WeightArrays = {};
  for (const [name, variable] of Object.entries(model.weights)) {
    out[name] = { shape: variable.shape.slice(), data: variable.dataSync() as Float32Array };
  }
  return out;
}

export function disposeModel(model: Model): void {
  for (const variable of Object.values(model.weights)) variable.dispose();
}

export interface ForwardOptions {
  /** Enables dropout (when config.dropout > 0). */
  training?: boolean;
  /** Seed for dropout masks; required for reproducible training with dropout. */
  seed?: number;
}

function toIds(batch: TokenBatch): tf.Tensor2D {
  return batch instanceof tf.Tensor ? (batch.dtype === 'int32' ? batch : batch.toInt()) : tf.tensor2d(batch, undefined, 'int32');
}

/**
 * One-hot rows as float32. Made as int32 then cast: the wasm OneHot kernel ignores a float32 dtype and writes
 * int bit patterns (1 reads as 1.4e-45), which a parity test caught.
 */
function oneHotFloat(ids: tf.Tensor, depth: number): tf.Tensor {
  return tf.oneHot(ids as tf.Tensor1D, depth).toFloat();
}

function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).mul(tf.rsqrt(variance.add(LN_EPSILON))).mul(g).add(b);
}

/** Exact GELU, 0.5·x·(1 + erf(x/√2)); the ONNX export writes the same formula. */
function gelu(x: tf.Tensor): tf.Tensor {
  return x.mul(0.5).mul(tf.erf(x.mul(Math.SQRT1_2)).add(1));
}

export const swapLast = (t: tf.Tensor) => t.transpose([...t.shape.keys()].map((i, _, all) => (i < all.length - 2 ? i : 2 * all.length - 3 - i)));

/**
 * a · b (same batch dims, no broadcasting) whose gradient uses explicit transposes: the wasm BatchMatMul with
 * transposeA/transposeB runs about 10x slower than on plain operands, and tfjs's own matMul gradient uses them.
 */
export const matMul = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [sa, sb] = saved;
      return [tf.matMul(dy as tf.Tensor, swapLast(sb)), tf.matMul(swapLast(sa), dy as tf.Tensor)];
    },
  };
}) as Parameters<typeof tf.customGrad>[0]) as unknown as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/**
 * Token embedding rows wte[ids] ([N] -> [N,C]). Forward is a gather; the gradient (which the wasm backend
 * lacks for gather) is a scatter-add of dy's rows into a [V,C] buffer, done in JS: N·C additions instead of a
 * [V,N]·[N,C] one-hot matmul.
 */
export const embed = tf.customGrad(((table: tf.Tensor, ids: tf.Tensor, save: tf.GradSaveFunc) => {
  save([ids]);
  return {
    value: tf.gather(table, ids.toInt()),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [V, C] = table.shape;
      const rows = saved[0].dataSync();
      const grad = (dy as tf.Tensor).dataSync();
      const out = new Float32Array(V * C);
      for (let n = 0; n < rows.length; n++) {
        const src = n * C;
        const dst = rows[n] * C;
        for (let c = 0; c < C; c++) out[dst + c] += grad[src + c];
      }
      return [tf.tensor2d(out, [V, C]), tf.zerosLike(saved[0])];
    },
  };
}) as Parameters<typeof tf.customGrad>[0]) as unknown as (table: tf.Tensor, ids: tf.Tensor) => tf.Tensor;

/** x [N, in] · W [in, out] + b, on a [B,T,in] tensor. */
function dense(x: tf.Tensor3D, w: tf.Tensor, b: tf.Tensor): tf.Tensor3D {
  const [B, T, C] = x.shape;
  return matMul(x.reshape([B * T, C]), w).add(b).reshape([B, T, w.shape[1]!]);
}

/** One-hot row selectors [B,A,T] for positions [B,A], and the causal bias [B,1,A,T] of a query at each. */
function chosenRows(positions: number[][], T: number): { select: tf.Tensor3D; bias: tf.Tensor4D } {
  const B = positions.length;
  const A = positions[0]?.length ?? 0;
  const select = new Float32Array(B * A * T);
  const bias = new Float32Array(B * A * T);
  positions.forEach((row, b) => {
    if (row.length !== A) throw new Error('hiddenStates: every row of positions needs the same length');
    row.forEach((t, a) => {
      if (!Number.isInteger(t) || t < 0 || t >= T) throw new Error(`hiddenStates: position ${t} is outside 0..${T - 1}`);
      const base = (b * A + a) * T;
      select[base + t] = 1;
      bias.fill(MASKED, base + t + 1, base + T);
    });
  });
  return { select: tf.tensor3d(select, [B, A, T]), bias: tf.tensor4d(bias, [B, 1, A, T]) };
}

/** RoPE angle of dimension pair i at position t: t·10000^(-2i/hd) (GPT-NeoX layout: pair i = dims i and i+hd/2). */
export function rotaryTables(positions: number[], hd: number): { cos: Float32Array; sin: Float32Array } {
  const half = hd / 2;
  const cos = new Float32Array(positions.length * hd);
  const sin = new Float32Array(positions.length * hd);
  positions.forEach((t, row) => {
    for (let d = 0; d < hd; d++) {
      const angle = t * Math.pow(10000, -(2 * (d % half)) / hd);
      cos[row * hd + d] = Math.cos(angle);
      sin[row * hd + d] = Math.sin(angle);
    }
  });
  return { cos, sin };
}

/** x·cos + rotate_half(x)·sin for x [..,N,hd] whose rows sit at `positions` (tables shaped `shape`, default [N,hd]). */
function rotaryAt(positions: number[], hd: number, shape: number[] = [positions.length, hd]): (x: tf.Tensor) => tf.Tensor {
  const { cos, sin } = rotaryTables(positions, hd);
  const c = tf.tensor(cos, shape);
  const s = tf.tensor(sin, shape);
  return (x) => {
    const [x1, x2] = tf.split(x, 2, -1);
    return x.mul(c).add(tf.concat([x2.neg(), x1], -1).mul(s));
  };
}

interface Trunk {
  /** Final-LayerNorm hidden states at the rows asked for: [B,T,C], or [B,A,C] with `positions`. */
  hidden: tf.Tensor3D;
  /** The last block's LayerNormed input at every position, [B,T,C]: what the copy head's keys read. */
  context: tf.Tensor3D;
  /** Causal bias of each returned row over the T positions: [T,T] (all rows) or [B,A,T]. */
  causalBias: tf.Tensor;
}

function trunk(model: Model, ids: tf.Tensor2D, opts: ForwardOptions & { positions?: number[][] }): Trunk {
  const { config, weights: w } = model;
  const [B, T] = ids.shape;
  const { width: C, heads: H } = config;
  const hd = C / H;
  if (T > config.contextLength) throw new Error(`sequence length ${T} exceeds contextLength ${config.contextLength}`);
  const rate = opts.training ? config.dropout : 0;
  let dropoutCalls = 0;
  const dropout = (x: tf.Tensor3D): tf.Tensor3D =>
    rate > 0 ? (tf.dropout(x, rate, undefined, (opts.seed ?? 0) * 1000 + dropoutCalls++) as tf.Tensor3D) : x;

  const tok = embed(w.wte, ids.reshape([B * T])).reshape([B, T, C]) as tf.Tensor3D; // [B,T,C]
  let x = dropout(config.rotary ? tok : (tok.add(w.wpe.slice([0, 0], [T, C])) as tf.Tensor3D)); // [B,T,C]
  const rotate = config.rotary ? rotaryAt(Array.from({ length: T }, (_, t) => t), hd) : (t: tf.Tensor) => t; // on [..,T,hd]

  const causal = tf.linalg.bandPart(tf.ones([T, T]), -1, 0); // [T,T], 1 where key <= query
  let causalBias: tf.Tensor = tf.sub(1, causal).mul(MASKED); // [T,T], 0 or -1e9
  const heads = (t: tf.Tensor3D) => t.reshape([B, T, H, hd]).transpose([0, 2, 1, 3]); // [B,H,T,hd]
  let context = x;

  for (let i = 0; i < config.layers; i++) {
    const p = `h.${i}.`;
    const h = layerNorm(x, w[p + 'ln1.g'], w[p + 'ln1.b']) as tf.Tensor3D;
    context = h;
    const qkv = dense(h, w[p + 'attn.wqkv'], w[p + 'attn.bqkv']); // [B,T,3C]
    const [q, k, v] = tf.split(qkv, 3, 2) as tf.Tensor3D[]; // each [B,T,C]
    if (i === config.layers - 1 && opts.positions) {
      // Last block at the chosen rows only: queries [B,H,A,hd] against every key [B,H,T,hd].
      const { select, bias } = chosenRows(opts.positions, T); // [B,A,T], [B,1,A,T]
      const A = opts.positions[0]?.length ?? 0;
      const qa = matMul(select, q).reshape([B, A, H, hd]).transpose([0, 2, 1, 3]); // [B,H,A,hd]
      const qr = config.rotary ? rotaryAt(opts.positions.flat(), hd, [B, 1, A, hd])(qa) : qa; // each row at its own position
      const att = tf.softmax(matMul(qr, swapLast(rotate(heads(k)))).mul(1 / Math.sqrt(hd)).add(bias), -1); // [B,H,A,T]
      const y = matMul(att, heads(v)).transpose([0, 2, 1, 3]).reshape([B, A, C]) as tf.Tensor3D; // [B,A,C]
      x = (matMul(select, x) as tf.Tensor3D).add(dropout(dense(y, w[p + 'attn.wo'], w[p + 'attn.bo']))); // [B,A,C]
      causalBias = bias.reshape([B, A, T]);
    } else {
      const scores = matMul(rotate(heads(q)), swapLast(rotate(heads(k)))).mul(1 / Math.sqrt(hd)).add(causalBias); // [B,H,T,T]
      const att = tf.softmax(scores, -1);
      const y = matMul(att, heads(v)).transpose([0, 2, 1, 3]).reshape([B, T, C]) as tf.Tensor3D; // [B,T,C]
      x = x.add(dropout(dense(y, w[p + 'attn.wo'], w[p + 'attn.bo'])));
    }
    const h2 = layerNorm(x, w[p + 'ln2.g'], w[p + 'ln2.b']) as tf.Tensor3D;
    const u = gelu(dense(h2, w[p + 'mlp.w1'], w[p + 'mlp.b1'])) as tf.Tensor3D; // [B,T,4C]
    x = x.add(dropout(dense(u, w[p + 'mlp.w2'], w[p + 'mlp.b2'])));
  }
  return { hidden: layerNorm(x, w['lnf.g'], w['lnf.b']) as tf.Tensor3D, context, causalBias };
}

/**
 * The trunk: final-LayerNorm hidden states [B,T,C]. Call inside tf.tidy.
 * With `positions` ([B,A] indices into T), returns only those rows, [B,A,C]: the last block then runs its
 * queries and MLP at the A chosen positions alone (keys and values still span every position), which is where a
 * loss on a short action after a long prompt spends nothing on the prompt's last-layer attention.
 */
export function hiddenStates(model: Model, inputIds: TokenBatch, opts: ForwardOptions & { positions?: number[][] } = {}): tf.Tensor3D {
  return trunk(model, toIds(inputIds), opts).hidden;
}

/**
 * p[b,a,v] = Σ_t att[b,a,t]·[ids[b,t] = v]: attention weights over positions [B,A,T] summed per token id into
 * [B,A,V]. A scatter-add in JS (B·A·T additions, not a [B,A,T]·[B,T,V] one-hot matmul); its gradient is the
 * matching gather, dAtt[b,a,t] = dp[b,a,ids[b,t]].
 */
export const scatterToVocab = (V: number) =>
  tf.customGrad(((att: tf.Tensor, ids: tf.Tensor, save: tf.GradSaveFunc) => {
    const [B, A, T] = att.shape;
    const tokens = ids.dataSync();
    const weights = att.dataSync();
    const out = new Float32Array(B * A * V);
    for (let b = 0; b < B; b++)
      for (let a = 0; a < A; a++) {
        const src = (b * A + a) * T;
        const dst = (b * A + a) * V;
        for (let t = 0; t < T; t++) out[dst + tokens[b * T + t]] += weights[src + t];
      }
    save([ids]);
    return {
      value: tf.tensor3d(out, [B, A, V]),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const grad = (dy as tf.Tensor).dataSync();
        const rows = saved[0].dataSync();
        const dAtt = new Float32Array(B * A * T);
        for (let b = 0; b < B; b++)
          for (let a = 0; a < A; a++) {
            const src = (b * A + a) * V;
            const dst = (b * A + a) * T;
            for (let t = 0; t < T; t++) dAtt[dst + t] = grad[src + rows[b * T + t]];
          }
        return [tf.tensor3d(dAtt, [B, A, T]), tf.zerosLike(saved[0])];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]) as unknown as (att: tf.Tensor3D, ids: tf.Tensor2D) => tf.Tensor3D;

/** log(e^a + e^b), stable. */
function logAddExp(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const m = tf.maximum(a, b);
  return m.add(tf.log(tf.exp(a.sub(m)).add(tf.exp(b.sub(m)))));
}

/** log σ(z) = min(z,0) - log(1 + e^-|z|), stable; tfjs's logSigmoid gradient fails on the wasm backend. */
function logSigmoid(z: tf.Tensor): tf.Tensor {
  return tf.minimum(z, 0).sub(tf.log1p(tf.exp(tf.abs(z).neg())));
}

/** Smallest copy probability taken to the log (a token absent from the context), so log never sees 0. */
const COPY_FLOOR = 1e-30;

/**
 * Next-token logits [B,T,V], or [B,A,V] at `positions` (LM head tied to wte). With the copy head they are the
 * mixture's log-probabilities, already normalised, so softmax/logSoftmax of them give the mixture itself.
 * Call inside tf.tidy.
 */
export function logits(model: Model, inputIds: TokenBatch, opts: ForwardOptions & { positions?: number[][] } = {}): tf.Tensor3D {
  if (model.kind !== 'policy') throw new Error('logits: needs a policy model');
  const ids = toIds(inputIds);
  const { hidden, context, causalBias } = trunk(model, ids, opts); // [B,A,C], [B,T,C]
  const w = model.weights;
  const [B, A, C] = hidden.shape;
  const V = model.config.vocabSize;
  const lm = matMul(hidden.reshape([B * A, C]), swapLast(w.wte)).reshape([B, A, V]) as tf.Tensor3D; // [B,A,V]
  if (!model.config.copyHead) return lm;
  const T = ids.shape[1];
  const q = matMul(hidden.reshape([B * A, C]), w['copy.wq']).reshape([B, A, C]); // [B,A,C]
  const k = matMul(context.reshape([B * T, C]), w['copy.wk']).reshape([B, T, C]); // [B,T,C]
  const att = tf.softmax(matMul(q, swapLast(k)).mul(1 / Math.sqrt(C)).add(causalBias), -1) as tf.Tensor3D; // [B,A,T]
  const copy = scatterToVocab(V)(att, ids); // [B,A,V]
  const gate = dense(hidden, w['copy.wg'], w['copy.bg']); // [B,A,1], logit of g
  const fromLm = tf.logSoftmax(lm, -1).add(logSigmoid(gate.neg())); // log((1-g)·softmax(lm))
  const fromCopy = tf.log(tf.maximum(copy, COPY_FLOOR)).add(logSigmoid(gate)); // log(g·p_copy)
  return logAddExp(fromLm, fromCopy) as tf.Tensor3D;
}

/** Log-probabilities and entropies from one forward pass: each [B,T]. */
export function logProbsAndEntropy(
  model: Model,
  inputIds: TokenBatch,
  targetIds: TokenBatch,
  opts: ForwardOptions = {},
): { logProbs: tf.Tensor2D; entropy: tf.Tensor2D } {
  const logp = tf.logSoftmax(logits(model, inputIds, opts), -1); // [B,T,V]
  const targets = oneHotFloat(toIds(targetIds), model.config.vocabSize); // [B,T,V]; gather has no wasm gradient
  const logProbs = logp.mul(targets).sum(-1) as tf.Tensor2D;
  const entropy = tf.neg(tf.exp(logp).mul(logp).sum(-1)) as tf.Tensor2D;
  return { logProbs, entropy };
}

/** log π(target_t | input_≤t) for every position: [B,T]. Differentiable. */
export function tokenLogProbs(model: Model, inputIds: TokenBatch, targetIds: TokenBatch, opts: ForwardOptions = {}): tf.Tensor2D {
  const logp = tf.logSoftmax(logits(model, inputIds, opts), -1); // [B,T,V]
  const targets = oneHotFloat(toIds(targetIds), model.config.vocabSize);
  return logp.mul(targets).sum(-1) as tf.Tensor2D;
}

/** Entropy of the next-token distribution at every position: [B,T]. Differentiable. */
export function tokenEntropy(model: Model, inputIds: TokenBatch, opts: ForwardOptions = {}): tf.Tensor2D {
  const logp = tf.logSoftmax(logits(model, inputIds, opts), -1);
  return tf.neg(tf.exp(logp).mul(logp).sum(-1)) as tf.Tensor2D;
}

/** The critic's value estimate at every position: [B,T]. Differentiable. */
export function values(critic: Model, inputIds: TokenBatch, opts: ForwardOptions = {}): tf.Tensor2D {
  if (critic.kind !== 'critic') throw new Error('values: needs a critic model');
  const x = hiddenStates(critic, inputIds, opts); // [B,T,C]
  const [B, T, C] = x.shape;
  return matMul(x.reshape([B * T, C]), critic.weights['value.w']).add(critic.weights['value.b']).reshape([B, T]);
}
